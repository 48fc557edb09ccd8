#pragma once
/// @file
/// ProfilerHook (VERY_LOW, not master-only): MMEngine's `mmengine/hooks/profiler_hook.py` on
/// LibTorch's Kineto-style profiler API (docs/design.md §B10.2, §B9 check 73). The profiler starts
/// in `before_run`, steps after every train iteration and stops after `profile_times` epochs or
/// iterations; it then hands a `ProfilerTrace` to `on_trace_ready` and writes a Chrome trace.
/// `schedule`, `step()` and the `log_trace` table have no C++ equivalent in LibTorch and are
/// re-implemented here (torch.profiler.schedule semantics).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/engine/hook.h"
#include "mmhook/hooks/profiler_schedule.h"
#include "mmhook/hooks/profiler_trace.h"

namespace mmhook {

/// ProfilerHook options (MMEngine's names and defaults).
// The implicit default constructor is noexcept; clang-tidy follows nlohmann::json's default
// constructor into json_value(value_t), whose throw is unreachable for null (nlohmann marks its
// own null constructor NOLINT(bugprone-exception-escape) for the same reason).
struct ProfilerHookOptions {        // NOLINT(bugprone-exception-escape)
  bool by_epoch = true;             ///< profile epochs (true) or iterations
  int64_t profile_times = 1;        ///< epochs/iterations to profile (>= 1; 1 with by_epoch)
  bool activity_with_cpu = true;    ///< record CPU operators
  bool activity_with_cuda = false;  ///< record CUDA kernels (ignored with a warning without CUDA)
  nlohmann::json schedule;          ///< null, or torch.profiler.schedule kwargs
  /// null, {"type": "log_trace", "sort_by"?, "row_limit"?} or
  /// {"type": "tb_trace", "dir_name"?, "worker_name"?}.
  nlohmann::json on_trace_ready;
  /// A callable `on_trace_ready` (takes precedence over the JSON form).
  std::function<void(const ProfilerTrace&)> on_trace_ready_fn;
  bool record_shapes = false;   ///< record input shapes
  bool profile_memory = false;  ///< track tensor allocations
  bool with_stack = false;      ///< record source stacks
  bool with_flops = false;      ///< estimate FLOPs of matmul/conv
  std::string json_trace_path;  ///< Chrome trace file; default `<log_dir>/profiler_trace.json`
};

/// Profiles the first `profile_times` epochs or iterations of a run (MMEngine's ProfilerHook).
class ProfilerHook : public HookImpl<ProfilerHook> {
 public:
  /// Validates the options; Errors (invalid_argument) name the hook, option and value.
  explicit ProfilerHook(ProfilerHookOptions options = {});
  ~ProfilerHook() override;
  std::string type_name() const override { return "ProfilerHook"; }
  int default_priority() const override { return get_priority(Priority::kVeryLow); }
  /// Checks `profile_times` against max_epochs/max_iters and starts profiling.
  void before_run(Runner& runner) override;
  /// Steps the profiler; in iter mode exports at `runner.iter() == profile_times - 1`.
  void after_train_iter(Runner& runner, int64_t batch_idx, const TensorDict& data_batch,
                        const TensorDict& outputs) override;
  /// Exports if not yet closed.
  void after_train_epoch(Runner& runner) override;
  /// Safety net (mmhook addition): exports if a run ended (val/test only, or a failure)
  /// while still profiling, so the thread's profiler never stays enabled.
  void after_run(Runner& runner) override;

  /// The options in use.
  const ProfilerHookOptions& options() const { return options_; }
  /// The parsed schedule, if any.
  const std::optional<ProfilerSchedule>& schedule() const { return schedule_; }
  /// Whether profiling has been stopped (MMEngine's `_closed`).
  bool closed() const { return closed_; }
  /// Number of `step()` calls so far (torch's `step_num`).
  int64_t step_num() const { return step_num_; }
  /// The last completed recording cycle (null before the first).
  const std::shared_ptr<ProfilerTrace>& last_trace() const { return last_trace_; }
  /// The Chrome trace path of the export (resolved in before_run).
  const std::string& trace_path() const { return trace_path_; }
  /// How many times the profiler was exited (0 or 1 per run).
  int64_t exports() const { return exports_; }
  /// torch's `profiler.step()`: closes "ProfilerStep#N", advances the schedule, opens the next.
  void step(Runner& runner);

 private:
  using Action = ProfilerSchedule::Action;
  struct Native;
  void start_recording();
  void stop_recording(Runner& runner);
  void transit(Runner& runner, Action from, std::optional<Action> to);
  void open_step_range();
  void export_trace(Runner& runner);
  void trace_ready(Runner& runner);

  ProfilerHookOptions options_;
  std::optional<ProfilerSchedule> schedule_;
  std::string log_sort_by_ = "cpu_time_total";
  int64_t log_row_limit_ = 100;
  bool recording_ = false;
  bool started_ = false;
  bool closed_ = false;
  int64_t step_num_ = 0;
  Action action_ = Action::kRecord;
  int64_t exports_ = 0;
  std::shared_ptr<ProfilerTrace> last_trace_;
  std::string trace_path_;
  std::string log_dir_;
  std::string tb_dir_;
  std::unique_ptr<Native> native_;
};

}  // namespace mmhook
