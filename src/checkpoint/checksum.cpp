#include "mmhook/checkpoint/checksum.h"

#include <cstdio>
#include <cstring>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"

namespace mmhook {

namespace {

// 64-bit FNV-1a over a canonical byte stream of the IValue tree.
class Fnv1a64 {
 public:
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
  uint64_t value() const { return hash_; }

 private:
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
  h.bytes(data.data_ptr(), data.numel() * data.element_size());
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

std::string checkpoint_checksum(const c10::IValue& dict) {
  Fnv1a64 h;
  hash_ivalue(h, dict, /*is_root=*/true);
  return to_hex(h.value());
}

}  // namespace mmhook
