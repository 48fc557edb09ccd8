#include "mmhook/hooks/iter_timer_hook.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "hooks/builtin_hooks.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/message_hub.h"

namespace mmhook {
namespace {
const std::string kDataTime[] = {"train/data_time", "val/data_time", "test/data_time"};
const std::string kTime[] = {"train/time", "val/time", "test/time"};
}  // namespace

IterTimerHook::IterTimerHook(std::function<double()> now_seconds) : now_(std::move(now_seconds)) {
  if (!now_) {
    now_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
}

void IterTimerHook::before_train(Runner& runner) {
  start_iter_ = runner.iter();
  time_sec_tot_ = 0;
}

void IterTimerHook::before_epoch(Runner&, Mode) { t_ = now_(); }

void IterTimerHook::after_epoch(Runner&, Mode) { time_sec_test_val_ = 0; }

void IterTimerHook::before_iter(Runner& runner, int64_t, const TensorDict&, Mode mode) {
  const double dt = now_() - t_;
  runner.message_hub().update_scalar(kDataTime[static_cast<int>(mode)], dt);
}

void IterTimerHook::after_iter(Runner& runner, int64_t batch_idx, const TensorDict&,
                               const TensorDict&, Mode mode) {
  const double now = now_();
  const double dt = now - t_;
  MessageHub& hub = runner.message_hub();
  hub.update_scalar(kTime[static_cast<int>(mode)], dt);
  t_ = now;
  double eta;
  if (mode == Mode::kTrain) {
    time_sec_tot_ += dt;
    const double avg = time_sec_tot_ / static_cast<double>(runner.iter() - start_iter_ + 1);
    eta = avg * static_cast<double>(runner.max_iters() - runner.iter() - 1);
  } else {
    time_sec_test_val_ += dt;
    const double avg = time_sec_test_val_ / static_cast<double>(batch_idx + 1);
    const int64_t len = mode == Mode::kVal ? runner.val_loop().dataloader().size()
                                           : runner.test_loop().dataloader().size();
    eta = avg * static_cast<double>(len - batch_idx - 1);
  }
  hub.update_info("eta", eta);
}

void detail::register_iter_timer_hook(Registry<Hook>& registry) {
  add_hook_without_options<IterTimerHook>(registry, "IterTimerHook");
}

}  // namespace mmhook
