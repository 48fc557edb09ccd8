#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "mmhook/core/error.h"
#include "mmhook/logging/py_format.h"
#include "mmhook/logging/vis_backend.h"

namespace mmhook {
namespace {

void make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "cannot create directory '", dir, "': ", ec.message());
}

void write_line(std::ofstream& out, const std::string& path, const std::string& line) {
  out << line << '\n';
  out.flush();
  if (!out) MMHOOK_THROW(Code::kIo, "cannot write to '", path, "': ", std::strerror(errno));
}

}  // namespace

VisBackend::~VisBackend() = default;

LocalVisBackend::LocalVisBackend(std::string save_dir, std::string timestamp)
    : vis_dir_(std::move(save_dir) + "/vis_data"), timestamp_(std::move(timestamp)) {
  MMHOOK_CHECK(!timestamp_.empty(), "LocalVisBackend needs a timestamp");
}

LocalVisBackend::~LocalVisBackend() {
  try {
    close();
  } catch (...) {
  }
}

void LocalVisBackend::open_files() {
  make_dirs(vis_dir_);
  if (!scalars_.is_open()) {
    scalars_.open(scalars_path(), std::ios::out | std::ios::app | std::ios::binary);
    if (!scalars_)
      MMHOOK_THROW(Code::kIo, "cannot open '", scalars_path(), "': ", std::strerror(errno));
  }
  if (!timestamp_json_.is_open()) {
    timestamp_json_.open(timestamp_json_path(), std::ios::out | std::ios::app | std::ios::binary);
    if (!timestamp_json_) {
      MMHOOK_THROW(Code::kIo, "cannot open '", timestamp_json_path(), "': ", std::strerror(errno));
    }
  }
}

void LocalVisBackend::add_scalars(const nlohmann::ordered_json& scalars, int64_t step) {
  MMHOOK_CHECK(scalars.is_object(), "LocalVisBackend.add_scalars expects a JSON object, got ",
               scalars.type_name());
  if (!scalars_.is_open() || !timestamp_json_.is_open()) open_files();
  nlohmann::ordered_json record = scalars;
  if (!record.contains("step")) record["step"] = step;
  const std::string line = py_json_dumps(record);
  write_line(scalars_, scalars_path(), line);
  write_line(timestamp_json_, timestamp_json_path(), line);
}

void LocalVisBackend::add_config(const std::string& config_text) {
  make_dirs(vis_dir_);
  const std::string path = vis_dir_ + "/config.py";
  std::ofstream out(path, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!out) MMHOOK_THROW(Code::kIo, "cannot open '", path, "': ", std::strerror(errno));
  out << config_text;
  out.flush();
  if (!out) MMHOOK_THROW(Code::kIo, "cannot write to '", path, "': ", std::strerror(errno));
}

void LocalVisBackend::close() {
  if (scalars_.is_open()) scalars_.close();
  if (timestamp_json_.is_open()) timestamp_json_.close();
}

}  // namespace mmhook
