// docs/design.md §A4: TensorBoard event files, decoded here by an independent reader (bitwise
// CRC32C, hand-written protobuf parsing).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "mmhook/logging/vis_backend.h"

namespace mmhook {
namespace {

namespace fs = std::filesystem;

uint32_t bitwise_crc32c(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint64_t read_le(const std::string& s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  return v;
}

// One decoded protobuf field: wire type, varint/fixed value or the bytes of a length-delimited one.
struct Field {
  int wire = 0;
  uint64_t num = 0;
  std::string bytes;
};

std::multimap<int, Field> parse_proto(const std::string& msg) {
  std::multimap<int, Field> out;
  size_t pos = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    int shift = 0;
    while (true) {
      const auto b = static_cast<unsigned char>(msg.at(pos++));
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
      shift += 7;
    }
  };
  while (pos < msg.size()) {
    const uint64_t key = varint();
    Field f;
    f.wire = static_cast<int>(key & 7);
    if (f.wire == 0)
      f.num = varint();
    else if (f.wire == 1) {
      f.num = read_le(msg, pos, 8);
      pos += 8;
    } else if (f.wire == 5) {
      f.num = read_le(msg, pos, 4);
      pos += 4;
    } else if (f.wire == 2) {
      const uint64_t n = varint();
      f.bytes = msg.substr(pos, n);
      pos += n;
    } else
      ADD_FAILURE() << "unexpected wire type " << f.wire;
    out.emplace(static_cast<int>(key >> 3), f);
  }
  EXPECT_EQ(pos, msg.size());
  return out;
}

std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  size_t pos = 0;
  while (pos < data.size()) {
    EXPECT_LE(pos + 12, data.size());
    const uint64_t len = read_le(data, pos, 8);
    EXPECT_EQ(read_le(data, pos + 8, 4), mask(bitwise_crc32c(data.substr(pos, 8)))) << "length CRC";
    const std::string payload = data.substr(pos + 12, len);
    EXPECT_EQ(read_le(data, pos + 12 + len, 4), mask(bitwise_crc32c(payload))) << "data CRC";
    records.push_back(payload);
    pos += 12 + len + 4;
  }
  EXPECT_EQ(pos, data.size());
  return records;
}

float as_float(uint64_t bits) {
  const auto b = static_cast<uint32_t>(bits);
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

TEST(TensorboardVisBackendTest, Crc32cKnownVector) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(masked_crc32c("123456789", 9), mask(0xE3069283u));
}

TEST(TensorboardVisBackendTest, WritesDecodableScalarEvents) {
  const fs::path dir = fs::temp_directory_path() / ("mmhook_tb_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::string path;
  {
    TensorboardVisBackend backend(dir.string());
    nlohmann::ordered_json tag;
    tag["lr"] = 0.1;
    tag["loss"] = 1.25;
    tag["name"] = "skipped";
    tag["iter"] = 10;
    backend.add_scalars(tag, 10);
    backend.add_scalars(nlohmann::ordered_json{{"accuracy", 0.75}}, 2);
    backend.add_config("lr = 0.1\n");
    path = backend.event_file();
    backend.close();
  }
  ASSERT_FALSE(path.empty());
  EXPECT_EQ(fs::path(path).parent_path(), dir / "vis_data");
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);

  const std::vector<std::string> records = read_records(path);
  ASSERT_EQ(records.size(), 6u);  // version, lr, loss, iter, accuracy, config

  const auto first = parse_proto(records[0]);
  ASSERT_EQ(first.count(3), 1u);
  EXPECT_EQ(first.find(3)->second.bytes, "brain.Event:2");
  ASSERT_EQ(first.count(1), 1u);
  EXPECT_EQ(first.find(1)->second.wire, 1);  // wall_time: double

  struct Expected {
    std::string tag;
    float value;
    uint64_t step;
  };
  const std::vector<Expected> expected = {
      {"lr", 0.1f, 10}, {"loss", 1.25f, 10}, {"iter", 10.0f, 10}, {"accuracy", 0.75f, 2}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto event = parse_proto(records[i + 1]);
    ASSERT_EQ(event.count(2), 1u);
    EXPECT_EQ(event.find(2)->second.num, expected[i].step);
    ASSERT_EQ(event.count(5), 1u);
    const auto summary = parse_proto(event.find(5)->second.bytes);
    ASSERT_EQ(summary.count(1), 1u);
    const auto value = parse_proto(summary.find(1)->second.bytes);
    EXPECT_EQ(value.find(1)->second.bytes, expected[i].tag);
    ASSERT_EQ(value.count(2), 1u);
    EXPECT_EQ(value.find(2)->second.wire, 5);
    EXPECT_EQ(as_float(value.find(2)->second.num), expected[i].value);
  }

  const auto config_event = parse_proto(records[5]);
  const auto config_value =
      parse_proto(parse_proto(config_event.find(5)->second.bytes).find(1)->second.bytes);
  EXPECT_EQ(config_value.find(1)->second.bytes, "config");
  const auto tensor = parse_proto(config_value.find(8)->second.bytes);
  EXPECT_EQ(tensor.find(1)->second.num, 7u);  // DT_STRING
  EXPECT_EQ(tensor.find(8)->second.bytes, "lr = 0.1\n");
  const auto plugin =
      parse_proto(parse_proto(config_value.find(9)->second.bytes).find(1)->second.bytes);
  EXPECT_EQ(plugin.find(1)->second.bytes, "text");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mmhook
