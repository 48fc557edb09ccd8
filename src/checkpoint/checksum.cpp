#include "mmhook/checkpoint/checksum.h"

#include <cstdio>
#include <cstring>
#include <optional>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"

namespace mmhook {

namespace {

constexpr const char* kMmh64Prefix = "mmh64:";

// Odd 64-bit constants (the two primes xxHash64 uses): multiplying by an odd number is a
// bijection of 64-bit words.
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;

uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// 8 bytes as a little-endian word, whatever the host's byte order.
uint64_t load_le64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

// One lane's step. For a fixed lane it is a bijection of the word, for a fixed word one of the
// lane (xor, rotation and odd multiplications are all invertible): a change to any one word
// always changes its lane's final state.
uint64_t lane_step(uint64_t lane, uint64_t word) {
  return rotl64(lane ^ (word * kPrime1), 31) * kPrime2;
}

// A bijective finalizer (xor-shifts and odd multiplications).
uint64_t avalanche(uint64_t x) {
  x ^= x >> 33;
  x *= kPrime2;
  x ^= x >> 29;
  x *= kPrime1;
  x ^= x >> 32;
  return x;
}

// The bulk digest of a tensor's bytes: four independent lanes over 32-byte blocks (the
// multiplications of different lanes overlap in the pipeline), the words after the last block
// into lane 0, the last 1-7 bytes zero-padded into one more word, then the lanes folded one at a
// time through a bijective mix. Each fold is a bijection of the lane being folded in, so damage
// confined to one lane (any single changed word: any bit flip, any overwritten 8-byte run) is
// always detected; damage spread over lanes goes unnoticed with probability about 2^-64. A
// corruption check, not a cryptographic hash.
uint64_t bulk_digest(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {kPrime1, kPrime2, ~kPrime1, ~kPrime2};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    lane[0] = lane_step(lane[0], load_le64(p + i));
    lane[1] = lane_step(lane[1], load_le64(p + i + 8));
    lane[2] = lane_step(lane[2], load_le64(p + i + 16));
    lane[3] = lane_step(lane[3], load_le64(p + i + 24));
  }
  for (; i + 8 <= size; i += 8) lane[0] = lane_step(lane[0], load_le64(p + i));
  if (i < size) {
    unsigned char last[8] = {};
    std::memcpy(last, p + i, size - i);
    lane[0] = lane_step(lane[0], load_le64(last));
  }
  uint64_t h = static_cast<uint64_t>(size);
  for (uint64_t l : lane) h = avalanche(h ^ avalanche(l));
  return h;
}

// 64-bit FNV-1a over a canonical byte stream of the IValue tree. Tensor data goes in whole
// (format kFnv1a64, mmhook 0.1) or as the 64-bit digest of `bulk_digest` (kMmh64).
class Fnv1a64 {
 public:
  explicit Fnv1a64(ChecksumFormat format) : format_(format) {}

  void bytes(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t h = hash_;
    for (size_t i = 0; i < size; ++i) {
      h ^= p[i];
      h *= 0x100000001b3ULL;
    }
    hash_ = h;
  }
  void tag(char t) { bytes(&t, 1); }
  void u64(uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(le, 8);
  }
  void str(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  // A tensor's data: FNV-1a goes one byte at a time through a chain of multiplications (about
  // 0.75 GB/s here), so the current format feeds it the data's bulk digest instead.
  void data(const void* p, size_t size) {
    if (format_ == ChecksumFormat::kFnv1a64) {
      bytes(p, size);
    } else {
      u64(size);
      u64(bulk_digest(p, size));
    }
  }
  uint64_t value() const { return hash_; }

 private:
  ChecksumFormat format_;
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

void hash_ivalue(Fnv1a64& h, const c10::IValue& v, bool is_root);

void hash_tensor(Fnv1a64& h, const at::Tensor& tensor) {
  h.tag('T');
  if (!tensor.defined()) {
    h.tag('U');
    return;
  }
  MMHOOK_CHECK(tensor.layout() == at::kStrided && !tensor.is_quantized(),
               "checkpoint checksum: unsupported tensor layout ", tensor.layout());
  h.str(c10::toString(tensor.scalar_type()));
  h.u64(static_cast<uint64_t>(tensor.dim()));
  for (int64_t s : tensor.sizes()) h.u64(static_cast<uint64_t>(s));
  auto data = tensor.is_cpu() ? tensor.contiguous() : tensor.cpu().contiguous();
  h.data(data.data_ptr(), data.numel() * data.element_size());
}

void hash_ivalue(Fnv1a64& h, const c10::IValue& v, bool is_root) {
  if (v.isNone()) {
    h.tag('N');
  } else if (v.isBool()) {
    h.tag('B');
    h.tag(v.toBool() ? 1 : 0);
  } else if (v.isInt()) {
    h.tag('I');
    h.u64(static_cast<uint64_t>(v.toInt()));
  } else if (v.isDouble()) {
    h.tag('D');
    const double d = v.toDouble();
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    h.u64(bits);
  } else if (v.isComplexDouble()) {
    h.tag('C');
    const auto c = v.toComplexDouble();
    const double parts[2] = {c.real(), c.imag()};
    h.bytes(parts, sizeof parts);
  } else if (v.isString()) {
    h.tag('S');
    h.str(v.toStringRef());
  } else if (v.isTensor()) {
    hash_tensor(h, v.toTensor());
  } else if (v.isList()) {
    const auto list = v.toListRef();
    h.tag('L');
    h.u64(list.size());
    for (const auto& item : list) hash_ivalue(h, item, false);
  } else if (v.isTuple()) {
    const auto& items = v.toTupleRef().elements();
    h.tag('P');
    h.u64(items.size());
    for (const auto& item : items) hash_ivalue(h, item, false);
  } else if (v.isGenericDict()) {
    const auto dict = v.toGenericDict();
    h.tag('M');
    for (const auto& entry : dict) {
      // meta["checksum"] is the digest itself and stays out of it.
      if (is_root && entry.key().isString() && entry.key().toStringRef() == kCheckpointMetaKey &&
          entry.value().isGenericDict()) {
        const auto meta = entry.value().toGenericDict();
        hash_ivalue(h, entry.key(), false);
        h.tag('M');
        for (const auto& m : meta) {
          if (m.key().isString() && m.key().toStringRef() == kCheckpointChecksumKey) continue;
          hash_ivalue(h, m.key(), false);
          hash_ivalue(h, m.value(), false);
        }
        h.tag('m');
        continue;
      }
      hash_ivalue(h, entry.key(), false);
      hash_ivalue(h, entry.value(), false);
    }
    h.tag('m');
  } else if (v.isDevice()) {
    h.tag('V');
    h.str(v.toDevice().str());
  } else {
    MMHOOK_THROW(Code::kInvalidArgument, "checkpoint checksum: unsupported value of type '",
                 v.tagKind(), "'");
  }
}

std::string to_hex(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace

std::string checkpoint_checksum(const c10::IValue& dict, ChecksumFormat format) {
  Fnv1a64 h(format);
  hash_ivalue(h, dict, /*is_root=*/true);
  const std::string hex = to_hex(h.value());
  return format == ChecksumFormat::kMmh64 ? kMmh64Prefix + hex : hex;
}

std::optional<ChecksumFormat> checksum_format(const std::string& stored) {
  auto is_hex16 = [](const std::string& s, size_t from) {
    if (s.size() != from + 16) return false;
    for (size_t i = from; i < s.size(); ++i)
      if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
  };
  const size_t prefix = std::strlen(kMmh64Prefix);
  if (stored.compare(0, prefix, kMmh64Prefix) == 0 && is_hex16(stored, prefix))
    return ChecksumFormat::kMmh64;
  if (is_hex16(stored, 0)) return ChecksumFormat::kFnv1a64;
  return std::nullopt;
}

}  // namespace mmhook
