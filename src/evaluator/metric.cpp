#include "mmhook/evaluator/metric.h"

#include <typeinfo>

#include "mmhook/dist/dist.h"

#include "mmhook/evaluator/accuracy.h"
#include "mmhook/evaluator/toy_metric.h"

namespace mmhook {

nlohmann::json BaseMetric::results() const {
  MMHOOK_THROW(Code::kDistributed, "metric '", prefix_.empty() ? typeid(*this).name() : prefix_,
               "' cannot be gathered across processes: it does not override results() and "
               "merge_results()");
}

void BaseMetric::merge_results(const nlohmann::json& /*results*/) {
  MMHOOK_THROW(Code::kDistributed, "metric '", prefix_.empty() ? typeid(*this).name() : prefix_,
               "' cannot be gathered across processes: it does not override merge_results()");
}

Metrics BaseMetric::evaluate(int64_t /*size*/) {
  if (dist::get_world_size() > 1) {
    const std::vector<nlohmann::json> all = dist::all_gather_object(results());
    reset();
    for (const auto& r : all) merge_results(r);
  }
  Metrics raw = compute_metrics();
  reset();
  if (prefix_.empty()) return raw;
  Metrics out;
  for (const auto& kv : raw) out.set(prefix_ + "/" + kv.first, kv.second);
  return out;
}

namespace {

void register_builtin_metrics(Registry<BaseMetric>& r) {
  r.add("Accuracy", [](const ConfigNode& cfg) {
    std::vector<int64_t> topk;
    if (cfg.has("topk") && cfg.json().at("topk").is_number())
      topk = {cfg.require<int64_t>("topk")};
    else
      topk = cfg.get<std::vector<int64_t>>("topk", {1});
    std::string prefix = cfg.get<std::string>("prefix", "accuracy");
    return std::make_shared<Accuracy>(std::move(topk), std::move(prefix));
  });
  r.add("ToyMetric", [](const ConfigNode& cfg) {
    return std::make_shared<ToyMetric>(cfg.get<std::vector<double>>("values", {}),
                                       cfg.get<std::string>("prefix", ""));
  });
}

}  // namespace

Registry<BaseMetric>& metric_registry() {
  static Registry<BaseMetric>* registry = [] {
    auto* r = new Registry<BaseMetric>("metric");
    register_builtin_metrics(*r);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
