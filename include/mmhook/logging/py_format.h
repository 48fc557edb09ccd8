#pragma once
/// @file
/// Python's text formats that MMEngine's log lines and JSON files are made of: `repr(float)`,
/// `str(obj)` of dicts/lists, `json.dumps`, `str(datetime.timedelta)`, and `{v:.Nf}` / `{v:.Ne}`.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace mmhook {

/// `repr(x)` of a Python float: shortest round-trip digits ("0.1", "1.0", "1e-05", "inf").
std::string py_float_repr(double x);

/// `f"{x:.{digits}f}"` ("1.0000").
std::string py_format_fixed(double x, int digits);

/// `f"{x:.{digits}e}"` ("1.0000e-01").
std::string py_format_exp(double x, int digits);

/// `repr(s)` of a Python str ('abc', "it's").
std::string py_str_repr(const std::string& s);

/// `str(v)` of the Python object a JSON value loads as: `{'cat': 1, 'dog': 0}`, `[1, 2]`,
/// `True`, `None`, floats as `repr`; a top-level string prints bare (as `str` does).
std::string py_str(const nlohmann::ordered_json& value);
/// Same as above for unordered JSON (objects print in key order).
std::string py_str(const nlohmann::json& value);

/// `json.dumps(v)` with Python's defaults (", " and ": " separators, ASCII-only escapes,
/// floats as `repr`, NaN/Infinity as Python writes them).
std::string py_json_dumps(const nlohmann::ordered_json& value);

/// `str(datetime.timedelta(seconds=s))`: "0:00:40", "1 day, 2:03:04", "-1 day, 23:59:59".
std::string py_timedelta_str(int64_t seconds);

}  // namespace mmhook
