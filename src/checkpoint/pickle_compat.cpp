#include "checkpoint/pickle_compat.h"

#include <caffe2/serialize/read_adapter_interface.h>
#include <caffe2/serialize/versions.h>
#include <zlib.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "checkpoint/pickle_rewrite.h"

namespace mmhook::detail {

namespace {

// LibTorch 1.13's unpickler gives a tensor the sizes, strides and offset the pickle states
// without comparing them with its storage record: a corrupt size would make a view reaching
// past the storage, read out of bounds by the first use. Every tensor must fit its storage.
// `records`: the true byte size of each storage record read, by data pointer (the unpickler
// gives a storage the byte size the pickle claims, numel x element size, whatever the record
// holds).
using RecordSizes = std::unordered_map<const void*, size_t>;
void check_tensor_extents(const c10::IValue& v, int depth, const RecordSizes& records) {
  if (depth > 256) throw std::runtime_error("objects nested deeper than 256 levels");
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined() || !t.has_storage()) return;
    const int64_t offset = t.storage_offset();
    if (offset < 0) throw std::runtime_error("a tensor with a negative storage offset");
    // Last element's index, with overflow checks (sizes and strides come from the file).
    int64_t last = offset;
    bool empty = false;
    for (int64_t d = 0; d < t.dim(); ++d) {
      const int64_t size = t.sizes()[d];
      const int64_t stride = t.strides()[d];
      if (size < 0 || stride < 0)
        throw std::runtime_error("a tensor with a negative size or stride");
      if (size == 0) empty = true;
      if (size > 1 && stride > 0) {
        int64_t extent = 0;
        if (__builtin_mul_overflow(size - 1, stride, &extent) ||
            __builtin_add_overflow(last, extent, &last)) {
          throw std::runtime_error("a tensor whose sizes overflow");
        }
      }
    }
    size_t capacity = t.storage().nbytes();
    const auto record = records.find(t.storage().data());
    if (record != records.end()) {
      if (capacity > record->second) {
        throw std::runtime_error("a storage of " + std::to_string(capacity) +
                                 " bytes in a record of " + std::to_string(record->second));
      }
      capacity = record->second;
    }
    if (empty) return;
    int64_t need = 0;
    if (__builtin_add_overflow(last, int64_t{1}, &need) ||
        __builtin_mul_overflow(need, static_cast<int64_t>(t.element_size()), &need) ||
        static_cast<uint64_t>(need) > capacity) {
      throw std::runtime_error("a tensor larger than its storage record (sizes " +
                               c10::str(t.sizes()) + ", storage " + std::to_string(capacity) +
                               " bytes)");
    }
  } else if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      check_tensor_extents(entry.key(), depth + 1, records);
      check_tensor_extents(entry.value(), depth + 1, records);
    }
  } else if (v.isList()) {
    for (const c10::IValue& item : v.toListRef()) check_tensor_extents(item, depth + 1, records);
  } else if (v.isTuple()) {
    for (const c10::IValue& item : v.toTupleRef().elements())
      check_tensor_extents(item, depth + 1, records);
  }
}

// LibTorch's MemoryReadAdapter copies whatever range the zip reader asks for; offsets and sizes
// come from the archive's (possibly corrupt) headers. This one reads only inside the buffer: a
// short read is an error the zip reader reports.
class CheckedMemoryReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  CheckedMemoryReader(const char* data, size_t size) : data_(data), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= size_ || n == 0) return 0;  // (a zero-size record comes with a null buffer)
    const size_t count = std::min(n, static_cast<size_t>(size_ - pos));
    std::memcpy(buf, data_ + pos, count);
    return count;
  }

 private:
  const char* data_;
  size_t size_;
};

// LibTorch 1.13's PyTorchStreamReader leaks its zip reader's state (the central directory)
// when its constructor throws after the zip opened: first entry not in a folder, no version
// record, a version record that fails its CRC, is not a number or is out of range. Those are
// checked here first, on the archive's own central directory, so the constructor does not
// throw for them. Archives this does not model (zip64, a compressed version record) are left
// to LibTorch; a structure it cannot parse is reported as corrupt.
uint32_t le(const std::vector<char>& b, size_t at, size_t n) {
  return static_cast<uint32_t>(load_le(b.data() + at, n));
}

bool iequals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(a[k])) !=
        std::tolower(static_cast<unsigned char>(b[k]))) {
      return false;
    }
  }
  return true;
}

void check_archive_layout(const std::vector<char>& b) {
  const size_t n = b.size();
  if (n < 22) throw std::runtime_error("zip: no end of central directory");
  size_t eocd = std::string::npos;
  const size_t lowest = n >= 22 + 65535 ? n - 22 - 65535 : 0;
  for (size_t at = n - 22 + 1; at-- > lowest;) {
    if (le(b, at, 4) == 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd == std::string::npos) throw std::runtime_error("zip: no end of central directory");
  const uint32_t entries = le(b, eocd + 10, 2);
  const uint32_t cd_size = le(b, eocd + 12, 4);
  const uint32_t cd_offset = le(b, eocd + 16, 4);
  if (entries == 0xFFFF || cd_offset == 0xFFFFFFFFu || cd_size == 0xFFFFFFFFu) return;  // zip64
  if (entries == 0) throw std::runtime_error("zip: the archive holds no files");
  if (static_cast<uint64_t>(cd_offset) + cd_size > eocd)
    throw std::runtime_error("zip: central directory outside the file");
  struct Entry {
    std::string name;
    uint32_t flags, method, crc, comp_size, size, local, external;
  };
  std::vector<Entry> list;
  size_t at = cd_offset;
  for (uint32_t i = 0; i < entries; ++i) {
    if (at + 46 > eocd || le(b, at, 4) != 0x02014b50)
      throw std::runtime_error("zip: corrupt central directory entry");
    const uint32_t name_len = le(b, at + 28, 2), extra = le(b, at + 30, 2),
                   comment = le(b, at + 32, 2);
    if (at + 46 + name_len + extra + comment > eocd)
      throw std::runtime_error("zip: corrupt central directory entry");
    list.push_back({std::string(b.data() + at + 46, name_len), le(b, at + 8, 2), le(b, at + 10, 2),
                    le(b, at + 16, 4), le(b, at + 20, 4), le(b, at + 24, 4), le(b, at + 42, 4),
                    le(b, at + 38, 4)});
    at += 46 + name_len + extra + comment;
  }
  const size_t slash = list[0].name.find('/');
  if (slash == std::string::npos)
    throw std::runtime_error("zip: the first file is not in a folder: " + list[0].name);
  const std::string prefix = list[0].name.substr(0, slash + 1);
  const Entry* version = nullptr;
  for (const char* name : {".data/version", "version"}) {
    for (const Entry& e : list) {
      if (iequals(e.name, prefix + name)) {
        version = &e;
        break;
      }
    }
    if (version != nullptr) break;
  }
  if (version == nullptr) throw std::runtime_error("zip: no version record");
  // Encrypted (bits 0, 6) or patch data (bit 5): miniz refuses them; a DOS directory attribute
  // (0x10) makes it a folder to miniz.
  if ((version->flags & 0x61) != 0)
    throw std::runtime_error("zip: the version record is encrypted or patch data");
  if ((version->external & 0x10) != 0)
    throw std::runtime_error("zip: the version record is marked as a folder");
  if (version->size > 64) throw std::runtime_error("zip: implausible size of the version record");
  const size_t local = version->local;
  if (local + 30 > n || le(b, local, 4) != 0x04034b50)
    throw std::runtime_error("zip: corrupt local header of the version record");
  const size_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
  if (data + version->comp_size > n) throw std::runtime_error("zip: version record past the end");
  std::string text;
  if (version->method == 0) {  // stored: what torch.save writes
    if (version->comp_size != version->size)
      throw std::runtime_error("zip: stored version record with two sizes");
    text.assign(b.data() + data, version->size);
  } else if (version->method == 8) {  // deflated (an archive re-zipped by another tool)
    text.assign(version->size, '\0');
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw std::runtime_error("zip: inflate failed");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data() + data));
    z.avail_in = version->comp_size;
    z.next_out = reinterpret_cast<Bytef*>(text.data());
    z.avail_out = version->size;
    const int rc = inflate(&z, Z_FINISH);
    const uLong produced = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != version->size)
      throw std::runtime_error("zip: the version record does not inflate");
  } else {
    throw std::runtime_error("zip: unsupported compression method " +
                             std::to_string(version->method) + " of the version record");
  }
  if (crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(text.data()),
            static_cast<uInt>(text.size())) != version->crc) {
    throw std::runtime_error("zip: CRC mismatch in the version record");
  }
  size_t k = 0;
  while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
  uint64_t value = 0;
  size_t digits = 0;
  for (; k < text.size() && std::isdigit(static_cast<unsigned char>(text[k])) && digits < 19;
       ++k, ++digits) {
    value = value * 10 + static_cast<uint64_t>(text[k] - '0');
  }
  if (digits == 0 || value < caffe2::serialize::kMinSupportedFileFormatVersion ||
      value > caffe2::serialize::kMaxSupportedFileFormatVersion) {
    throw std::runtime_error("zip: unsupported or corrupt version record '" + text + "'");
  }
}

}  // namespace

c10::IValue load_pickle_archive(const std::vector<char>& bytes) {
  // Mirrors torch::pickle_load (readArchiveAndTensors("data", ...)) with a rewritten data.pkl.
  check_archive_layout(bytes);
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_shared<CheckedMemoryReader>(bytes.data(), bytes.size()));
  at::DataPtr pickle_ptr;
  size_t pickle_size = 0;
  std::tie(pickle_ptr, pickle_size) = reader.getRecord("data.pkl");
  const std::string pickle = rewrite_pickle_for_libtorch(
      std::string(static_cast<const char*>(pickle_ptr.get()), pickle_size));
  size_t offset = 0;
  auto read = [&](char* buffer, size_t len) -> size_t {
    if (offset >= pickle.size() || len == 0) return 0;
    len = std::min(len, pickle.size() - offset);
    std::memcpy(buffer, pickle.data() + offset, len);
    offset += len;
    return len;
  };
  RecordSizes record_sizes;
  auto read_record = [&](const std::string& name) {
    auto [data, size] = reader.getRecord("data/" + name);
    record_sizes[data.get()] = size;
    return std::move(data);
  };
  torch::jit::Unpickler unpickler(read, nullptr, nullptr, std::move(read_record), c10::nullopt);
  unpickler.set_version(reader.version());
  c10::IValue root = unpickler.parse_ivalue();
  check_tensor_extents(root, 0, record_sizes);
  return root;
}

}  // namespace mmhook::detail
