#include "mmhook/scheduler/scheduler_builder.h"

#include <nlohmann/json.hpp>

#include "mmhook/scheduler/cosine_scheduler.h"
#include "mmhook/scheduler/exponential_scheduler.h"
#include "mmhook/scheduler/linear_scheduler.h"
#include "mmhook/scheduler/one_cycle_scheduler.h"
#include "mmhook/scheduler/param_scheduler.h"
#include "mmhook/scheduler/poly_scheduler.h"
#include "mmhook/scheduler/reduce_on_plateau_scheduler.h"
#include "mmhook/scheduler/step_scheduler.h"

namespace mmhook {
namespace {

using Ctx = SchedulerBuildContext;

// v epochs in iterations when converting; a product beyond int64 is a config error.
int64_t scale(const ConfigNode& cfg, int64_t v, const Ctx& ctx) {
  if (!ctx.convert_to_iter_based) return v;
  int64_t out = 0;
  if (__builtin_mul_overflow(v, ctx.epoch_length, &out))
    MMHOOK_THROW(Code::kConfig, cfg.path(), ": ", v, " epochs x ", ctx.epoch_length,
                 " iterations per epoch overflows the 64-bit iteration counter");
  return out;
}

// Common arguments, with MMEngine's build_iter_from_epoch conversion.
SchedulerArgs read_args(const ConfigNode& cfg, const Ctx& ctx) {
  SchedulerArgs a;
  a.begin = cfg.get<int64_t>("begin", 0);
  a.end = cfg.get<int64_t>("end", kSchedulerInf);
  a.last_step = cfg.get<int64_t>("last_step", -1);
  a.by_epoch = cfg.get<bool>("by_epoch", true);
  (void)cfg.get<bool>("verbose", false);
  if (ctx.convert_to_iter_based) {
    if (!a.by_epoch)
      cfg.fail("by_epoch",
               "only epoch-based schedulers (by_epoch=true) can be converted to iter-based");
    a.begin = scale(cfg, a.begin, ctx);
    if (a.end != kSchedulerInf) a.end = scale(cfg, a.end, ctx);
    a.by_epoch = false;
  }
  return a;
}

// A `float or list[float]` option.
PerGroupValue read_per_group(const ConfigNode& cfg, const std::string& key, double fallback) {
  if (cfg.has(key) && cfg.json().at(key).is_array()) return cfg.require<std::vector<double>>(key);
  return cfg.get<double>(key, fallback);
}

// Registers `<Family>LR`, `<Family>Momentum` and `<Family>ParamScheduler` with one maker.
void add_family(Registry<ParamScheduler, const Ctx&>& r, const std::string& family,
                const std::function<std::shared_ptr<ParamScheduler>(
                    const ConfigNode&, const Ctx&, const std::string& param)>& make) {
  r.add(family + "LR", [make](const ConfigNode& c, const Ctx& x) { return make(c, x, "lr"); });
  r.add(family + "Momentum",
        [make](const ConfigNode& c, const Ctx& x) { return make(c, x, "momentum"); });
  r.add(family + "ParamScheduler", [make](const ConfigNode& c, const Ctx& x) {
    return make(c, x, c.require<std::string>("param_name"));
  });
}

// Parameter checks with the key's path. A schedule that turns a rate negative (gamma -1 gave
// lr -0.1) trained on with exit status 0, while the same lr written directly was refused.
std::string num(double v) { return nlohmann::json(v).dump(); }
void require_positive(const ConfigNode& c, const char* key, double v) {
  if (!(v > 0)) c.fail(key, "must be > 0, got " + num(v));
}
void require_non_negative(const ConfigNode& c, const char* key, double v) {
  if (!(v >= 0)) c.fail(key, "must be >= 0, got " + num(v));
}
void require_at_least(const ConfigNode& c, const char* key, int64_t v, int64_t min) {
  if (v < min) c.fail(key, "must be >= " + std::to_string(min) + ", got " + std::to_string(v));
}

}  // namespace

Registry<ParamScheduler, const SchedulerBuildContext&>& scheduler_registry() {
  static auto* registry = [] {
    // Constructor checks raise invalid-argument Errors; from a config they name the JSON path.
    auto* r =
        new Registry<ParamScheduler, const Ctx&>("param scheduler", FactoryErrors::kConfigAtPath);
    add_family(*r, "Step", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const int64_t step_size = scale(c, c.require<int64_t>("step_size"), x);
      const double gamma = c.get<double>("gamma", 0.1);
      require_positive(c, "gamma", gamma);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<StepParamScheduler>(*x.optim_wrapper, p, step_size, gamma, a);
    });
    add_family(*r, "MultiStep", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      std::vector<int64_t> milestones = c.require<std::vector<int64_t>>("milestones");
      for (auto& m : milestones) {
        require_at_least(c, "milestones", m, 0);
        m = scale(c, m, x);
      }
      const double gamma = c.get<double>("gamma", 0.1);
      require_positive(c, "gamma", gamma);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<MultiStepParamScheduler>(*x.optim_wrapper, p, milestones, gamma, a);
    });
    add_family(*r, "Constant", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const double factor = c.get<double>("factor", 1.0 / 3);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<ConstantParamScheduler>(*x.optim_wrapper, p, factor, a);
    });
    add_family(*r, "Linear", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const double start = c.get<double>("start_factor", 1.0 / 3);
      const double end = c.get<double>("end_factor", 1.0);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<LinearParamScheduler>(*x.optim_wrapper, p, start, end, a);
    });
    add_family(*r, "Exponential", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const double gamma = c.require<double>("gamma");
      require_positive(c, "gamma", gamma);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<ExponentialParamScheduler>(*x.optim_wrapper, p, gamma, a);
    });
    add_family(*r, "Poly", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const double eta_min = c.get<double>("eta_min", 0.0);
      const double power = c.get<double>("power", 1.0);
      require_non_negative(c, "eta_min", eta_min);
      require_non_negative(c, "power", power);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<PolyParamScheduler>(*x.optim_wrapper, p, eta_min, power, a);
    });
    add_family(*r, "CosineAnnealing", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      std::optional<int64_t> t_max = c.get_optional<int64_t>("T_max");
      if (t_max) t_max = scale(c, *t_max, x);
      const auto eta_min = c.get_optional<double>("eta_min");
      const auto eta_min_ratio = c.get_optional<double>("eta_min_ratio");
      if (eta_min) require_non_negative(c, "eta_min", *eta_min);
      if (eta_min_ratio) require_non_negative(c, "eta_min_ratio", *eta_min_ratio);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<CosineAnnealingParamScheduler>(*x.optim_wrapper, p, t_max, eta_min,
                                                             eta_min_ratio, a);
    });
    add_family(*r, "CosineRestart", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      std::vector<int64_t> periods = c.require<std::vector<int64_t>>("periods");
      for (auto& v : periods) {
        require_at_least(c, "periods", v, 1);
        v = scale(c, v, x);
      }
      const auto weights = c.get<std::vector<double>>("restart_weights", {1.0});
      for (double w : weights) require_non_negative(c, "restart_weights", w);
      const auto eta_min = c.get_optional<double>("eta_min");
      const auto eta_min_ratio = c.get_optional<double>("eta_min_ratio");
      if (eta_min) require_non_negative(c, "eta_min", *eta_min);
      if (eta_min_ratio) require_non_negative(c, "eta_min_ratio", *eta_min_ratio);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<CosineRestartParamScheduler>(*x.optim_wrapper, p, periods, weights,
                                                           eta_min, eta_min_ratio, a);
    });
    add_family(*r, "OneCycle", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const PerGroupValue eta_max = read_per_group(c, "eta_max", 0.0);
      // MMEngine's build_iter_from_epoch scales total_steps too; without it, end-begin is used.
      std::optional<int64_t> total_steps = c.get_optional<int64_t>("total_steps");
      if (total_steps) total_steps = scale(c, *total_steps, x);
      // MMEngine rejects a pct_start that is not a float (isinstance check).
      if (c.has("pct_start") && c.json().at("pct_start").is_number_integer())
        c.fail("pct_start",
               "expected float between 0 and 1, got " + c.json().at("pct_start").dump());
      const double pct_start = c.get<double>("pct_start", 0.3);
      const std::string anneal_strategy = c.get<std::string>("anneal_strategy", "cos");
      const double div_factor = c.get<double>("div_factor", 25.0);
      const double final_div_factor = c.get<double>("final_div_factor", 1e4);
      require_positive(c, "div_factor", div_factor);
      require_positive(c, "final_div_factor", final_div_factor);
      const bool three_phase = c.get<bool>("three_phase", false);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<OneCycleParamScheduler>(*x.optim_wrapper, p, eta_max, total_steps,
                                                      pct_start, anneal_strategy, div_factor,
                                                      final_div_factor, three_phase, a);
    });
    add_family(*r, "ReduceOnPlateau", [](const ConfigNode& c, const Ctx& x, const std::string& p) {
      const std::string monitor = c.get<std::string>("monitor", "loss");
      const std::string rule = c.get<std::string>("rule", "less");
      const double factor = c.get<double>("factor", 0.1);
      const int64_t patience = c.get<int64_t>("patience", 10);
      const double threshold = c.get<double>("threshold", 1e-4);
      const std::string threshold_rule = c.get<std::string>("threshold_rule", "rel");
      const int64_t cooldown = c.get<int64_t>("cooldown", 0);
      const PerGroupValue min_value = read_per_group(c, "min_value", 0.0);
      const double eps = c.get<double>("eps", 1e-8);
      require_positive(c, "factor", factor);  // the scheduler itself checks factor < 1
      require_at_least(c, "patience", patience, 0);
      require_at_least(c, "cooldown", cooldown, 0);
      require_non_negative(c, "eps", eps);
      const SchedulerArgs a = read_args(c, x);
      return std::make_shared<ReduceOnPlateauParamScheduler>(
          *x.optim_wrapper, p, monitor, rule, factor, patience, threshold, threshold_rule, cooldown,
          min_value, eps, a);
    });
    return r;
  }();
  return *registry;
}

std::vector<std::shared_ptr<ParamScheduler>> build_param_schedulers(
    const nlohmann::json& cfg, const std::string& path, OptimWrapper& optim_wrapper,
    int64_t epoch_length, int64_t max_epochs, int64_t max_iters) {
  std::vector<nlohmann::json> entries;
  if (cfg.is_object()) {
    entries.push_back(cfg);
  } else if (cfg.is_array()) {
    for (const auto& e : cfg) entries.push_back(e);
  } else {
    MMHOOK_THROW(Code::kConfig, path, ": expected an object or a list of objects, got ",
                 cfg.dump());
  }
  std::vector<std::shared_ptr<ParamScheduler>> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string p = cfg.is_array() ? path + "[" + std::to_string(i) + "]" : path;
    nlohmann::json entry = entries[i];
    if (!entry.is_object()) MMHOOK_THROW(Code::kConfig, p, ": expected object, got ", entry.dump());
    SchedulerBuildContext ctx;
    ctx.optim_wrapper = &optim_wrapper;
    ctx.epoch_length = epoch_length;
    if (entry.contains("convert_to_iter_based")) {
      if (!entry["convert_to_iter_based"].is_boolean())
        MMHOOK_THROW(Code::kConfig, p, ".convert_to_iter_based: expected boolean, got ",
                     entry["convert_to_iter_based"].dump());
      ctx.convert_to_iter_based = entry["convert_to_iter_based"].get<bool>();
      entry.erase("convert_to_iter_based");
    }
    // MMEngine: `end` defaults to the loop length in the scheduler's own unit (when a train
    // loop is known, i.e. the length is positive; otherwise it stays INF).
    const bool by_epoch = !entry.contains("by_epoch") || !entry["by_epoch"].is_boolean() ||
                          entry["by_epoch"].get<bool>();
    const int64_t default_end = by_epoch ? max_epochs : max_iters;
    if ((!entry.contains("end") || entry["end"].is_null()) && default_end > 0)
      entry["end"] = default_end;
    MMHOOK_CHECK_CODE(!ctx.convert_to_iter_based || epoch_length > 0, Code::kConfig, p,
                      ": convert_to_iter_based needs a train dataloader with a length");
    out.push_back(scheduler_registry().build(ConfigNode(entry, p), ctx));
  }
  return out;
}

}  // namespace mmhook
