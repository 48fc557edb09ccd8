#pragma once
/// @file
/// `BackgroundWriter`: one background thread running one job at a time, with which
/// CheckpointHook's `async_save` writes checkpoints while training goes on.

#include <functional>
#include <memory>

namespace mmhook {

/// Runs file writes on one background thread, one job at a time (CheckpointHook's
/// `async_save`). The first error a job throws is kept and rethrown by `wait`/`check`.
class BackgroundWriter {
 public:
  BackgroundWriter();
  /// Waits for the running job; errors are dropped here (call `wait` to see them).
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;
  /// Waits for the previous job (rethrowing its error), then starts `job`.
  void submit(std::function<void()> job);
  /// Waits until no job runs; rethrows the error of a failed job (once).
  void wait();
  /// Rethrows the error of a finished, failed job without waiting (one atomic load otherwise).
  void check();
  /// Whether a job is running.
  bool busy() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mmhook
