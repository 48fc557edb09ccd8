#include "checkpoint/pickle_compat.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <cstring>
#include <unordered_map>

namespace mmhook::detail {

namespace {

struct Unsupported {};

enum class Kind { kOther, kMark, kEmptyTuple, kOrderedDictClass, kOrderedDict };

// A memo entry: what it holds and where its PUT sits in the output.
struct Memo {
  Kind kind;
  size_t pos;
  bool deleted;
};

const char kOrderedDictGlobal[] = "ccollections\nOrderedDict\n";

// A stack element: where its opcodes start in the output, and what it is when that matters.
struct Elem {
  size_t start;
  Kind kind;
};

uint64_t read_le(const std::string& in, size_t at, size_t n) {
  if (at + n > in.size()) throw Unsupported{};
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + k])) << (8 * k);
  return v;
}

size_t line_end(const std::string& in, size_t from) {
  const auto nl = in.find('\n', from);
  if (nl == std::string::npos) throw Unsupported{};
  return nl + 1;
}

class Rewriter {
 public:
  explicit Rewriter(const std::string& in) : in_(in) { out_.reserve(in.size() + 64); }

  std::string run() {
    size_t i = 0;
    while (i < in_.size()) {
      const auto op = static_cast<unsigned char>(in_[i]);
      const size_t pos = out_.size();
      size_t end = i + 1;  // one past the opcode's argument
      char emit = static_cast<char>(op);
      bool drop = false;  // emit nothing for this opcode
      switch (op) {
        // ---- push one value, fixed-size or length-prefixed argument
        case 'N':
        case 0x88:
        case 0x89:
        case '}':
        case ']':
        case 0x8f: push(pos); break;
        case ')': push(pos, Kind::kEmptyTuple); break;
        case 'K':
          end += 1;
          push(pos);
          break;
        case 'M':
          end += 2;
          push(pos);
          break;
        case 'J':
          end += 4;
          push(pos);
          break;
        case 'G':
          end += 8;
          push(pos);
          break;
        case 0x82:
          end += 1;
          push(pos);
          break;
        case 0x83:
          end += 2;
          push(pos);
          break;
        case 0x84:
          end += 4;
          push(pos);
          break;
        case 0x8a:
        case 'U':
        case 'C':
        case 0x8c:
          end += 1 + read_le(in_, i + 1, 1);
          push(pos);
          break;
        case 0x8b:
        case 'T':
        case 'X':
        case 'B':
          end += 4 + read_le(in_, i + 1, 4);
          push(pos);
          break;
        case 0x8d:
        case 0x8e:
        case 0x96:
          end += 8 + read_le(in_, i + 1, 8);
          push(pos);
          break;
        case 'I':
        case 'L':
        case 'F':
        case 'S':
        case 'V':
        case 'P':
          end = line_end(in_, i + 1);
          push(pos);
          break;
        case 'c': {
          const size_t mod_end = line_end(in_, i + 1);
          end = line_end(in_, mod_end);
          const bool ordered_dict = in_.compare(i + 1, mod_end - i - 2, "collections") == 0 &&
                                    in_.compare(mod_end, end - mod_end - 1, "OrderedDict") == 0;
          push(pos, ordered_dict ? Kind::kOrderedDictClass : Kind::kOther);
          break;
        }
        // ---- memo
        case 'h':
          end += 1;
          drop = get(read_le(in_, i + 1, 1), pos);
          break;
        case 'j':
          end += 4;
          drop = get(read_le(in_, i + 1, 4), pos);
          break;
        case 'g':
          end = line_end(in_, i + 1);
          drop = get(parse_decimal(i + 1, end - 1), pos);
          break;
        case 'q':
          end += 1;
          put(read_le(in_, i + 1, 1), pos);
          break;
        case 'r':
          end += 4;
          put(read_le(in_, i + 1, 4), pos);
          break;
        case 'p':
          end = line_end(in_, i + 1);
          put(parse_decimal(i + 1, end - 1), pos);
          break;
        case 0x94: put(memo_.size(), pos); break;
        // ---- stack shape
        case '(': push(pos, Kind::kMark); break;
        case '0': pop(1); break;
        case '1': pop_to_mark(); break;
        case 0x80: end += 1; break;      // PROTO
        case 0x95: throw Unsupported{};  // FRAME (protocol 4): lengths would need fixing
        case '.': end = in_.size(); break;
        // ---- combine values
        case 'Q': push(pop(1)); break;
        case 0x85: push(pop(1)); break;
        case 0x86:
        case 0x93: push(pop(2)); break;
        case 0x87:
        case 0x92: push(pop(3)); break;
        case 0x81: push(pop(2)); break;
        case 'R': {
          // LibTorch turns OrderedDict() into None; an empty dict is what Python builds.
          const bool ordered_dict = stack_.size() >= 2 &&
                                    stack_[stack_.size() - 2].kind == Kind::kOrderedDictClass &&
                                    top().kind == Kind::kEmptyTuple;
          const size_t start = pop(2);
          if (ordered_dict) {
            erase_output_from(start, /*allow_class_memo=*/true);
            emit = '}';
          }
          push(start, ordered_dict ? Kind::kOrderedDict : Kind::kOther);
          break;
        }
        case 'a': {  // APPEND -> MARK value APPENDS
          if (stack_.size() < 2 || top().kind == Kind::kMark ||
              stack_[stack_.size() - 2].kind == Kind::kMark) {
            throw Unsupported{};
          }
          out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(top().start), '(');
          pop(1);
          emit = 'e';
          break;
        }
        case 'b': {  // BUILD: the object stays; an OrderedDict's attributes (state) are dropped
          const size_t state_start = pop(1);
          if (top().kind == Kind::kOrderedDict) {
            erase_output_from(state_start, /*allow_class_memo=*/false);
            drop = true;
          }
          break;
        }
        case 't':
        case 'l':
        case 'd':
        case 0x91:
        case 'o': push(pop_to_mark()); break;
        case 'i':
          end = line_end(in_, line_end(in_, i + 1));
          push(pop_to_mark());
          break;
        case 'e':
        case 'u':
        case 0x90:
          pop_to_mark();
          top();
          break;
        case 's': {
          if (stack_.size() < 3) throw Unsupported{};
          const auto& key = stack_[stack_.size() - 2];
          if (key.kind == Kind::kMark || top().kind == Kind::kMark ||
              stack_[stack_.size() - 3].kind == Kind::kMark) {
            throw Unsupported{};
          }
          out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(key.start), '(');
          pop(2);
          emit = 'u';
          break;
        }
        default: throw Unsupported{};
      }
      if (end > in_.size()) throw Unsupported{};
      if (!drop) {
        out_.push_back(emit);
        out_.append(in_, i + 1, end - i - 1);
      }
      i = end;
    }
    return out_;
  }

 private:
  void push(size_t start, Kind kind = Kind::kOther) { stack_.push_back({start, kind}); }
  const Elem& top() const {
    if (stack_.empty()) throw Unsupported{};
    return stack_.back();
  }
  // Pops n values (no marks among them); returns where the deepest one starts.
  size_t pop(size_t n) {
    if (stack_.size() < n) throw Unsupported{};
    const size_t start = stack_[stack_.size() - n].start;
    for (size_t k = 0; k < n; ++k) {
      if (stack_.back().kind == Kind::kMark) throw Unsupported{};
      stack_.pop_back();
    }
    return start;
  }
  // Pops up to and including the topmost mark; returns where the mark starts.
  size_t pop_to_mark() {
    while (!stack_.empty() && stack_.back().kind != Kind::kMark) stack_.pop_back();
    if (stack_.empty()) throw Unsupported{};
    const size_t start = stack_.back().start;
    stack_.pop_back();
    return start;
  }
  void put(uint64_t index, size_t pos) { memo_[index] = Memo{top().kind, pos, false}; }
  // Pushes a memo entry; an OrderedDict class is re-emitted as its GLOBAL (its PUT may be gone).
  // Returns whether the GET opcode itself is to be dropped.
  bool get(uint64_t index, size_t pos) {
    auto it = memo_.find(index);
    if (it == memo_.end() || it->second.deleted) throw Unsupported{};
    push(pos, it->second.kind);
    if (it->second.kind != Kind::kOrderedDictClass) return false;
    out_ += kOrderedDictGlobal;
    return true;
  }
  // Removes output from `start` on; memo entries defined there become unusable.
  void erase_output_from(size_t start, bool allow_class_memo) {
    for (auto& [index, memo] : memo_) {
      if (memo.pos < start || memo.deleted) continue;
      if (allow_class_memo && memo.kind == Kind::kOrderedDictClass) continue;
      memo.deleted = true;
    }
    out_.resize(start);
  }
  uint64_t parse_decimal(size_t from, size_t to) const {
    uint64_t v = 0;
    for (size_t k = from; k < to; ++k) {
      if (in_[k] < '0' || in_[k] > '9') throw Unsupported{};
      v = v * 10 + static_cast<uint64_t>(in_[k] - '0');
    }
    return v;
  }

  const std::string& in_;
  std::string out_;
  std::vector<Elem> stack_;
  std::unordered_map<uint64_t, Memo> memo_;
};

}  // namespace

std::string rewrite_pickle_for_libtorch(const std::string& pickle) {
  try {
    return Rewriter(pickle).run();
  } catch (const Unsupported&) {
    return pickle;
  }
}

c10::IValue load_pickle_archive(const std::vector<char>& bytes) {
  // Mirrors torch::pickle_load (readArchiveAndTensors("data", ...)) with a rewritten data.pkl.
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_shared<caffe2::serialize::MemoryReadAdapter>(bytes.data(),
                                                             static_cast<off_t>(bytes.size())));
  at::DataPtr pickle_ptr;
  size_t pickle_size = 0;
  std::tie(pickle_ptr, pickle_size) = reader.getRecord("data.pkl");
  const std::string pickle = rewrite_pickle_for_libtorch(
      std::string(static_cast<const char*>(pickle_ptr.get()), pickle_size));
  size_t offset = 0;
  auto read = [&](char* buffer, size_t len) -> size_t {
    if (offset >= pickle.size()) return 0;
    len = std::min(len, pickle.size() - offset);
    std::memcpy(buffer, pickle.data() + offset, len);
    offset += len;
    return len;
  };
  auto read_record = [&](const std::string& name) {
    return std::get<0>(reader.getRecord("data/" + name));
  };
  torch::jit::Unpickler unpickler(read, nullptr, nullptr, std::move(read_record), c10::nullopt);
  unpickler.set_version(reader.version());
  return unpickler.parse_ivalue();
}

}  // namespace mmhook::detail
