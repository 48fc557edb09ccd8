#pragma once
/// @file
/// Visualisation backends (MMEngine `mmengine/visualization/vis_backend.py`): where LoggerHook's
/// tags go. `LocalVisBackend` writes `vis_data/scalars.json`; (TensorBoard follows).

#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace mmhook {

/// A sink for scalar tags and the dumped config. Override `add_scalars`; `add_config` and
/// `close` default to doing nothing. Errors are `mmhook::Error` (kIo for file problems).
class VisBackend {
 public:
  virtual ~VisBackend();
  /// Records the numbers of `scalars` (a LogProcessor tag) at `step`.
  virtual void add_scalars(const nlohmann::ordered_json& scalars, int64_t step) = 0;
  /// Records the config text.
  virtual void add_config(const std::string& config_text) { (void)config_text; }
  /// Flushes and closes files; further calls may reopen them.
  virtual void close() {}
};

/// MMEngine's LocalVisBackend: each `add_scalars` appends `json.dumps(tag | {"step": step})`
/// (a `step` already in the tag wins) as one line to `<save_dir>/vis_data/scalars.json` and
/// `<save_dir>/vis_data/<timestamp>.json`, flushed per call; `add_config` writes
/// `<save_dir>/vis_data/config.py`.
class LocalVisBackend : public VisBackend {
 public:
  /// Backend writing under `save_dir` (the run's log_dir); files are opened on first use.
  LocalVisBackend(std::string save_dir, std::string timestamp);
  ~LocalVisBackend() override;
  /// Appends one JSON line to both scalar files; kIo Error naming the file on failure.
  void add_scalars(const nlohmann::ordered_json& scalars, int64_t step) override;
  /// Writes (overwrites) `vis_data/config.py`; kIo Error naming the file on failure.
  void add_config(const std::string& config_text) override;
  /// Closes the scalar files.
  void close() override;

  /// `<save_dir>/vis_data`.
  const std::string& vis_dir() const { return vis_dir_; }
  /// `<save_dir>/vis_data/scalars.json`.
  std::string scalars_path() const { return vis_dir_ + "/scalars.json"; }
  /// `<save_dir>/vis_data/<timestamp>.json`.
  std::string timestamp_json_path() const { return vis_dir_ + "/" + timestamp_ + ".json"; }

 private:
  void open_files();
  std::string vis_dir_;
  std::string timestamp_;
  std::ofstream scalars_;
  std::ofstream timestamp_json_;
};

}  // namespace mmhook
