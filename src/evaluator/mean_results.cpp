#include "evaluator/mean_results.h"

#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

#include "mmhook/core/error.h"

namespace mmhook::detail {

nlohmann::json mean_results_to_json(const MeanResults& results) {
  nlohmann::json sum;
  if (std::isnan(results.sum))
    sum = "nan";
  else if (std::isinf(results.sum))
    sum = results.sum > 0 ? "inf" : "-inf";
  else
    sum = results.sum;
  return {{"sum", std::move(sum)}, {"count", results.count}};
}

MeanResults mean_results_from_json(const nlohmann::json& results, const std::string& metric) {
  const bool shaped = results.is_object() && results.size() == 2 && results.contains("sum") &&
                      results.contains("count") && results.at("count").is_number_integer() &&
                      results.at("count").get<int64_t>() >= 0;
  MeanResults out;
  if (shaped) {
    const nlohmann::json& sum = results.at("sum");
    out.count = results.at("count").get<int64_t>();
    if (sum.is_number()) {
      out.sum = sum.get<double>();
      return out;
    }
    if (sum == "nan") {
      out.sum = std::numeric_limits<double>::quiet_NaN();
      return out;
    }
    if (sum == "inf" || sum == "-inf") {
      const double inf = std::numeric_limits<double>::infinity();
      out.sum = sum == "inf" ? inf : -inf;
      return out;
    }
  }
  MMHOOK_THROW(Code::kInvalidArgument, metric,
               ": gathered results must be {\"sum\": number or \"nan\"/\"inf\"/\"-inf\", "
               "\"count\": integer >= 0}, got ",
               results.dump());
}

void warn_empty_results(const std::string& metric) {
  spdlog::warn(
      "{} got empty results: no element was processed since the last evaluation (an empty "
      "dataset, or batches without samples), so it reports no metric.",
      metric);
}

}  // namespace mmhook::detail
