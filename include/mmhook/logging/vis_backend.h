#pragma once
/// @file
/// Visualisation backends (MMEngine `mmengine/visualization/vis_backend.py`): where LoggerHook's
/// tags go. `LocalVisBackend` writes `vis_data/scalars.json`; `TensorboardVisBackend` writes a
/// TensorBoard event file.

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

/// Writes TensorBoard event files `<save_dir>/vis_data/events.out.tfevents.<secs>.<host>.<pid>.<n>`
/// readable by TensorBoard: a first record with `file_version = "brain.Event:2"`, then one
/// event per numeric tag entry (`simple_value`, `tag` = key, `step`), in TFRecord framing
/// (length, masked CRC32C of the length, payload, masked CRC32C of the payload).
class TensorboardVisBackend : public VisBackend {
 public:
  /// Backend writing under `save_dir` (the run's log_dir); the file is created on first use.
  explicit TensorboardVisBackend(std::string save_dir);
  ~TensorboardVisBackend() override;
  /// Writes one scalar event per numeric (or bool) entry; other entries are skipped.
  void add_scalars(const nlohmann::ordered_json& scalars, int64_t step) override;
  /// Writes the config as a text summary under tag "config" (step 0).
  void add_config(const std::string& config_text) override;
  /// Flushes and closes the event file.
  void close() override;
  /// Path of the event file ("" before the first write).
  const std::string& event_file() const { return path_; }

 private:
  void open_file();
  void write_record(const std::string& payload);
  std::string save_dir_;
  std::string path_;
  std::ofstream out_;
};

/// CRC32C (Castagnoli) of `size` bytes.
uint32_t crc32c(const void* data, size_t size);
/// TFRecord's masked CRC32C: `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace mmhook
