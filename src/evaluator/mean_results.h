#pragma once
// The gathered form of a mean metric's state (MeanSquaredError, MeanAbsoluteError, LossMetric):
// a sum in double precision and an element count, as the JSON that `results()` returns and
// `merge_results()` reads.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace mmhook::detail {

/// A sum over `count` elements.
struct MeanResults {
  double sum = 0;     ///< sum over the elements (NaN and inf kept)
  int64_t count = 0;  ///< number of elements
};

/// {"sum": s, "count": n}. JSON has no NaN or inf (the gathering sends text), so a sum that is
/// not finite is written as the string "nan", "inf" or "-inf".
nlohmann::json mean_results_to_json(const MeanResults& results);

/// Reads what `mean_results_to_json` wrote (possibly on another process); anything else is an
/// invalid-argument Error naming `metric` and the JSON received.
MeanResults mean_results_from_json(const nlohmann::json& results, const std::string& metric);

/// Logs the WARNING MMEngine's `BaseMetric.evaluate` logs for a metric whose results are empty
/// ("<metric> got empty results ..."): `metric` processed no element before its evaluation.
void warn_empty_results(const std::string& metric);

}  // namespace mmhook::detail
