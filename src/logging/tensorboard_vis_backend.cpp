#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "mmhook/core/error.h"
#include "mmhook/logging/vis_backend.h"

namespace mmhook {
namespace {

// Minimal protobuf writer for the handful of tensorflow.Event fields TensorBoard reads.
class ProtoWriter {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf_ += static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    buf_ += static_cast<char>(v);
  }
  void key(int field, int wire_type) {
    varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
  }
  void varint_field(int field, uint64_t v) {
    key(field, 0);
    varint(v);
  }
  void double_field(int field, double v) {
    key(field, 1);
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 8; ++i) buf_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  void float_field(int field, float v) {
    key(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 4; ++i) buf_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  void bytes_field(int field, const std::string& bytes) {
    key(field, 2);
    varint(bytes.size());
    buf_ += bytes;
  }
  const std::string& str() const { return buf_; }

 private:
  std::string buf_;
};

// tensorflow.Event { double wall_time = 1; int64 step = 2; string file_version = 3;
//                    Summary summary = 5; }
std::string event(int64_t step, const std::string* file_version, const std::string* summary) {
  const double wall_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  ProtoWriter w;
  w.double_field(1, wall_time);
  if (step != 0) w.varint_field(2, static_cast<uint64_t>(step));
  if (file_version != nullptr) w.bytes_field(3, *file_version);
  if (summary != nullptr) w.bytes_field(5, *summary);
  return w.str();
}

// Summary { repeated Value value = 1; }, Value { string tag = 1; float simple_value = 2; }
std::string scalar_summary(const std::string& tag, float value) {
  ProtoWriter v;
  v.bytes_field(1, tag);
  v.float_field(2, value);
  ProtoWriter s;
  s.bytes_field(1, v.str());
  return s.str();
}

// A text summary as torch.utils.tensorboard's add_text writes it: Value { tag = 1;
// metadata = 9 { plugin_data = 1 { plugin_name = 1: "text" } }; tensor = 8 { dtype = 1:
// DT_STRING (7); tensor_shape = 2 { dim = 2 { size = 1: 1 } }; string_val = 8 } }.
std::string text_summary(const std::string& tag, const std::string& text) {
  ProtoWriter plugin;
  plugin.bytes_field(1, "text");
  ProtoWriter metadata;
  metadata.bytes_field(1, plugin.str());
  ProtoWriter dim;
  dim.varint_field(1, 1);
  ProtoWriter shape;
  shape.bytes_field(2, dim.str());
  ProtoWriter tensor;
  tensor.varint_field(1, 7);
  tensor.bytes_field(2, shape.str());
  tensor.bytes_field(8, text);
  ProtoWriter v;
  v.bytes_field(1, tag);
  v.bytes_field(9, metadata.str());
  v.bytes_field(8, tensor.str());
  ProtoWriter s;
  s.bytes_field(1, v.str());
  return s.str();
}

std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> kTable = make_crc32c_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = kTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorboardVisBackend::TensorboardVisBackend(std::string save_dir)
    : save_dir_(std::move(save_dir)) {}

TensorboardVisBackend::~TensorboardVisBackend() {
  try {
    close();
  } catch (...) {
  }
}

void TensorboardVisBackend::open_file() {
  const std::string dir = save_dir_ + "/vis_data";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "cannot create directory '", dir, "': ", ec.message());
  if (path_.empty()) {
    static std::atomic<int> counter{0};
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    char stamp[32];
    std::snprintf(stamp, sizeof(stamp), "%010lld", static_cast<long long>(secs));
    path_ = dir + "/events.out.tfevents." + stamp + "." + hostname() + "." +
            std::to_string(::getpid()) + "." + std::to_string(counter++);
  }
  const bool fresh =
      !std::filesystem::exists(path_, ec) || std::filesystem::file_size(path_, ec) == 0;
  out_.open(path_, std::ios::out | std::ios::app | std::ios::binary);
  if (!out_) MMHOOK_THROW(Code::kIo, "cannot open '", path_, "': ", std::strerror(errno));
  if (fresh) {
    const std::string version = "brain.Event:2";
    write_record(event(0, &version, nullptr));
  }
}

void TensorboardVisBackend::write_record(const std::string& payload) {
  char header[12];
  const uint64_t len = payload.size();
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>((len >> (8 * i)) & 0xFF);
  const uint32_t len_crc = masked_crc32c(header, 8);
  for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<char>((len_crc >> (8 * i)) & 0xFF);
  const uint32_t data_crc = masked_crc32c(payload.data(), payload.size());
  char footer[4];
  for (int i = 0; i < 4; ++i) footer[i] = static_cast<char>((data_crc >> (8 * i)) & 0xFF);
  out_.write(header, sizeof(header));
  out_.write(payload.data(), static_cast<std::streamsize>(payload.size()));
  out_.write(footer, sizeof(footer));
  if (!out_) MMHOOK_THROW(Code::kIo, "cannot write to '", path_, "': ", std::strerror(errno));
}

void TensorboardVisBackend::add_scalars(const nlohmann::ordered_json& scalars, int64_t step) {
  MMHOOK_CHECK(scalars.is_object(), "TensorboardVisBackend.add_scalars expects a JSON object, got ",
               scalars.type_name());
  if (!out_.is_open()) open_file();
  for (auto it = scalars.begin(); it != scalars.end(); ++it) {
    const auto& v = it.value();
    if (!v.is_number() && !v.is_boolean()) continue;
    const double x = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
    const std::string summary = scalar_summary(it.key(), static_cast<float>(x));
    write_record(event(step, nullptr, &summary));
  }
  out_.flush();
  if (!out_) MMHOOK_THROW(Code::kIo, "cannot write to '", path_, "': ", std::strerror(errno));
}

void TensorboardVisBackend::add_config(const std::string& config_text) {
  if (!out_.is_open()) open_file();
  const std::string summary = text_summary("config", config_text);
  write_record(event(0, nullptr, &summary));
  out_.flush();
  if (!out_) MMHOOK_THROW(Code::kIo, "cannot write to '", path_, "': ", std::strerror(errno));
}

void TensorboardVisBackend::close() {
  if (out_.is_open()) out_.close();
}

}  // namespace mmhook
