#include "mmhook/hooks/profiler_schedule.h"

#include <string>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

std::string dump_value(const nlohmann::json& v) { return v.dump(); }

}  // namespace

ProfilerSchedule::Action ProfilerSchedule::action(int64_t step) const {
  if (step < skip_first) return Action::kNone;
  step -= skip_first;
  const int64_t num_steps = wait + warmup + active;
  if (repeat > 0 && step / num_steps >= repeat) return Action::kNone;
  const int64_t mod_step = step % num_steps;
  if (mod_step < wait) return Action::kNone;
  if (mod_step < wait + warmup) return Action::kWarmup;
  return mod_step < num_steps - 1 ? Action::kRecord : Action::kRecordAndSave;
}

ProfilerSchedule ProfilerSchedule::from_json(const nlohmann::json& kwargs) {
  MMHOOK_CHECK(kwargs.is_object(),
               "ProfilerHook.schedule must be a dict of torch.profiler."
               "schedule arguments, got ",
               dump_value(kwargs));
  for (const auto& kv : kwargs.items()) {
    const std::string& k = kv.key();
    MMHOOK_CHECK(
        k == "wait" || k == "warmup" || k == "active" || k == "repeat" || k == "skip_first",
        "ProfilerHook.schedule got an unexpected keyword argument '", k, "' in ",
        dump_value(kwargs));
    MMHOOK_CHECK(kv.value().is_number_integer(), "ProfilerHook.schedule.", k,
                 " must be an integer, got ", dump_value(kv.value()));
  }
  for (const char* required : {"wait", "warmup", "active"})
    MMHOOK_CHECK(kwargs.contains(required),
                 "ProfilerHook.schedule is missing the required "
                 "argument '",
                 required, "' (got ", dump_value(kwargs), ")");
  ProfilerSchedule s;
  s.wait = kwargs.at("wait").get<int64_t>();
  s.warmup = kwargs.at("warmup").get<int64_t>();
  s.active = kwargs.at("active").get<int64_t>();
  s.repeat = kwargs.value("repeat", int64_t{0});
  s.skip_first = kwargs.value("skip_first", int64_t{0});
  MMHOOK_CHECK(s.wait >= 0 && s.warmup >= 0 && s.active > 0 && s.repeat >= 0 && s.skip_first >= 0,
               "ProfilerHook.schedule needs wait, warmup, repeat, skip_first >= 0 and active > 0, "
               "got ",
               dump_value(kwargs));
  return s;
}

}  // namespace mmhook
