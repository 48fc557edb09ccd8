// Python's text formats used by log lines and JSON files.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mmhook/logging/py_format.h"

namespace mmhook {
namespace {

TEST(PyFormatTest, FloatReprMatchesPython) {
  EXPECT_EQ(py_float_repr(0.1), "0.1");
  EXPECT_EQ(py_float_repr(1.0), "1.0");
  EXPECT_EQ(py_float_repr(-2.5), "-2.5");
  EXPECT_EQ(py_float_repr(1e-05), "1e-05");
  EXPECT_EQ(py_float_repr(0.0001), "0.0001");
  EXPECT_EQ(py_float_repr(1e16), "1e+16");
  EXPECT_EQ(py_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(py_float_repr(1.5e-07), "1.5e-07");
  EXPECT_EQ(py_float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(py_float_repr(123.456), "123.456");
  EXPECT_EQ(py_float_repr(0.0), "0.0");
  EXPECT_EQ(py_float_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(py_float_repr(std::nan("")), "nan");
}

TEST(PyFormatTest, FixedAndExponent) {
  EXPECT_EQ(py_format_fixed(1.0, 4), "1.0000");
  EXPECT_EQ(py_format_fixed(19.0 / 11.0, 4), "1.7273");
  EXPECT_EQ(py_format_exp(0.1, 4), "1.0000e-01");
  EXPECT_EQ(py_format_exp(0.00025, 4), "2.5000e-04");
}

TEST(PyFormatTest, TimedeltaMatchesPythonStr) {
  EXPECT_EQ(py_timedelta_str(40), "0:00:40");
  EXPECT_EQ(py_timedelta_str(3661), "1:01:01");
  EXPECT_EQ(py_timedelta_str(86400), "1 day, 0:00:00");
  EXPECT_EQ(py_timedelta_str(2 * 86400 + 5), "2 days, 0:00:05");
  EXPECT_EQ(py_timedelta_str(-1), "-1 day, 23:59:59");
}

TEST(PyFormatTest, StrOfDictsAndLists) {
  EXPECT_EQ(py_str(nlohmann::ordered_json::parse(R"({"cat": 1, "dog": 0})")),
            "{'cat': 1, 'dog': 0}");
  EXPECT_EQ(py_str(nlohmann::ordered_json::parse(R"([1, 2.0, "a", null, true, false])")),
            "[1, 2.0, 'a', None, True, False]");
  EXPECT_EQ(py_str(nlohmann::ordered_json("bare")), "bare");
  EXPECT_EQ(py_str_repr("it's"), "\"it's\"");
  EXPECT_EQ(py_str_repr("a\nb"), "'a\\nb'");
}

TEST(PyFormatTest, JsonDumpsMatchesPython) {
  nlohmann::ordered_json tag;
  tag["lr"] = 0.1;
  tag["loss"] = 1e-05;
  tag["epoch"] = 1;
  tag["name"] = "caf\xc3\xa9 \"x\"";
  tag["list"] = {1, 2.5};
  tag["nested"] = {{"b", nullptr}, {"a", true}};
  tag["nan"] = std::nan("");
  EXPECT_EQ(
      py_json_dumps(tag),
      R"({"lr": 0.1, "loss": 1e-05, "epoch": 1, "name": "caf\u00e9 \"x\"", "list": [1, 2.5], )"
      R"("nested": {"b": null, "a": true}, "nan": NaN})");
}

}  // namespace
}  // namespace mmhook
