#include "mmhook/hooks/early_stopping_hook.h"

#include <cmath>
#include <limits>
#include <sstream>

#include <spdlog/spdlog.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/config/config_node.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/hooks/checkpoint_hook.h"

namespace mmhook {
namespace {

std::string fixed3(double v) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(3);
  os << v;
  return os.str();
}

}  // namespace

EarlyStoppingHook::EarlyStoppingHook(EarlyStoppingHookOptions options)
    : options_(std::move(options)) {
  MMHOOK_CHECK(!options_.monitor.empty(), "EarlyStoppingHook.monitor is required");
  if (options_.rule.empty()) {
    // MMEngine uses CheckpointHook's default key lists.
    const CheckpointHookOptions defaults;
    rule_ = infer_rule(options_.monitor, defaults.greater_keys, defaults.less_keys);
  } else {
    MMHOOK_CHECK(options_.rule == "greater" || options_.rule == "less",
                 "EarlyStoppingHook.rule must be 'greater' or 'less', got '", options_.rule, "'");
    rule_ = options_.rule;
  }
  min_delta_ = rule_ == "greater" ? options_.min_delta : -options_.min_delta;
  best_score_ = rule_ == "greater" ? -std::numeric_limits<double>::infinity()
                                   : std::numeric_limits<double>::infinity();
}

void EarlyStoppingHook::before_run(Runner& runner) {
  // MMEngine asserts `hasattr(runner.train_loop, 'stop_training')`, which builds the loop.
  try {
    runner.train_loop();
  } catch (const Error& e) {
    MMHOOK_THROW(Code::kFailedPrecondition,
                 "EarlyStoppingHook needs a train loop with `stop_training`: ", e.what());
  }
}

void EarlyStoppingHook::after_val_epoch(Runner& runner, const Metrics& metrics) {
  if (runner.val_loop().interrupted()) return;  // a stopped pass has no metrics to judge
  const double* found = metrics.find(options_.monitor);
  if (found == nullptr) {
    std::string keys;
    for (const auto& k : metrics.keys()) keys += (keys.empty() ? "" : ", ") + k;
    const std::string msg = "Skip early stopping process since the evaluation results ([" + keys +
                            "]) do not include `monitor` (" + options_.monitor + ").";
    if (options_.strict) MMHOOK_THROW(Code::kFailedPrecondition, msg);
    runner.logger().warn(msg);
    return;
  }
  const double score = *found;
  bool stop = false;
  std::string reason;
  if (options_.check_finite && !std::isfinite(score)) {
    stop = true;
    reason = "Monitored metric " + options_.monitor + " = " + std::to_string(score) +
             " is infinite or NaN.";
  } else if (options_.stopping_threshold && better(score, *options_.stopping_threshold)) {
    stop = true;
    best_score_ = score;
    reason = "Stopping threshold reached: `" + options_.monitor + "` = " + fixed3(score) + " is " +
             (rule_ == "greater" ? "greater" : "less") + " than " +
             fixed3(*options_.stopping_threshold) + ".";
  } else if (better(best_score_ + min_delta_, score)) {
    ++wait_count_;
    if (wait_count_ >= options_.patience) {
      stop = true;
      reason = "the monitored metric did not improve in the last " + std::to_string(wait_count_) +
               " records. best score: " + fixed3(best_score_) + ". ";
    }
  } else {
    best_score_ = score;
    wait_count_ = 0;
  }
  if (stop) {
    runner.train_loop().stop_training = true;
    runner.logger().info(reason);
  }
}

void EarlyStoppingHook::before_save_checkpoint(Runner&, Checkpoint& checkpoint) {
  checkpoint.put_hook_state(name(), "monitor", c10::IValue(options_.monitor));
  checkpoint.put_hook_state(name(), "rule", c10::IValue(rule_));
  checkpoint.put_hook_state(name(), "best_score", c10::IValue(best_score_));
  checkpoint.put_hook_state(name(), "wait_count", c10::IValue(wait_count_));
}

void EarlyStoppingHook::after_load_checkpoint(Runner& runner, Checkpoint& checkpoint) {
  const auto best = checkpoint.get_hook_state(name(), "best_score");
  const auto wait = checkpoint.get_hook_state(name(), "wait_count");
  if (!best || !wait) return;  // saved without this hook: keep the fresh state
  const auto monitor = checkpoint.get_hook_state(name(), "monitor");
  const auto rule = checkpoint.get_hook_state(name(), "rule");
  if (!monitor || !rule || !monitor->isString() || !rule->isString() ||
      monitor->toStringRef() != options_.monitor || rule->toStringRef() != rule_) {
    runner.logger().warn(
        "EarlyStoppingHook: the checkpoint's early-stopping state watches a "
        "different metric or rule; starting afresh.");
    return;
  }
  MMHOOK_CHECK_CODE(best->isDouble() && wait->isInt(), Code::kCheckpoint, "checkpoint hook_states/",
                    name(), ": best_score must be a float and wait_count an int");
  best_score_ = best->toDouble();
  wait_count_ = wait->toInt();
}

void detail::register_early_stopping_hook(Registry<Hook>& registry) {
  registry.add("EarlyStoppingHook", [](const ConfigNode& cfg) {
    EarlyStoppingHookOptions o;
    o.monitor = cfg.require<std::string>("monitor");
    o.rule = cfg.get<std::string>("rule", "");
    o.min_delta = cfg.get<double>("min_delta", o.min_delta);
    o.strict = cfg.get<bool>("strict", o.strict);
    o.check_finite = cfg.get<bool>("check_finite", o.check_finite);
    o.patience = cfg.get<int64_t>("patience", o.patience);
    o.stopping_threshold = cfg.get_optional<double>("stopping_threshold");
    return std::make_shared<EarlyStoppingHook>(o);
  });
}

}  // namespace mmhook
