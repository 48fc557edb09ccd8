#include "checkpoint/pickle_rewrite.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace mmhook::detail {

namespace {

// A stream no pickler writes (truncated argument, stack underflow, GET of an unset memo slot,
// unknown opcode): rejected before LibTorch 1.13's unpickler, which does not check these and
// reads out of bounds on them.
struct Malformed {
  const char* reason;
};

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
  if (at + n > in.size()) throw Malformed{"truncated opcode argument"};
  return load_le(in.data() + at, n);
}

size_t line_end(const std::string& in, size_t from) {
  const auto nl = in.find('\n', from);
  if (nl == std::string::npos) throw Malformed{"unterminated text argument"};
  return nl + 1;
}

class Rewriter {
 public:
  explicit Rewriter(const std::string& in) : in_(in) { out_.reserve(in.size() + 64); }

  // The rewritten stream, or the input itself when it holds something not rewritten (then only
  // checked). Throws Malformed.
  std::string run() {
    bool stopped = false;
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
          end += 1 + length(read_le(in_, i + 1, 1));
          push(pos);
          break;
        case 0x8b:
        case 'T':
        case 'X':
        case 'B':
          end += 4 + length(read_le(in_, i + 1, 4));
          push(pos);
          break;
        case 0x8d:
        case 0x8e:
        case 0x96:
          end += 8 + length(read_le(in_, i + 1, 8));
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
        case 0x80:
          end += 1;
          break;  // PROTO
        // ---- valid, but not rewritten: checked, then the stream goes to LibTorch unchanged
        case 0x95:  // FRAME (protocol 4): lengths would need fixing
          end += 8;
          rewritable_ = false;
          break;
        case '2':  // DUP: never written by torch.save
          push(pos, top().kind);
          rewritable_ = false;
          break;
        case 0x97:  // NEXT_BUFFER (protocol 5)
          push(pos);
          rewritable_ = false;
          break;
        case 0x98:  // READONLY_BUFFER (protocol 5)
          top();
          rewritable_ = false;
          break;
        case '.':
          top();
          stopped = true;
          end = in_.size();
          break;
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
            throw Malformed{"APPEND without a list and a value"};
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
          if (stack_.size() < 3) throw Malformed{"SETITEM without a dict, a key and a value"};
          const auto& key = stack_[stack_.size() - 2];
          if (key.kind == Kind::kMark || top().kind == Kind::kMark ||
              stack_[stack_.size() - 3].kind == Kind::kMark) {
            throw Malformed{"SETITEM without a dict, a key and a value"};
          }
          out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(key.start), '(');
          pop(2);
          emit = 'u';
          break;
        }
        default: throw Malformed{"unknown opcode"};
      }
      if (end > in_.size()) throw Malformed{"truncated opcode argument"};
      if (!drop) {
        out_.push_back(emit);
        out_.append(in_, i + 1, end - i - 1);
      }
      i = end;
    }
    if (!stopped) throw Malformed{"no STOP opcode (truncated stream)"};
    return rewritable_ ? out_ : in_;
  }

 private:
  void push(size_t start, Kind kind = Kind::kOther) { stack_.push_back({start, kind}); }
  // A length-prefixed argument's length; longer than the whole stream is a truncated stream
  // (and must not overflow the position arithmetic).
  size_t length(uint64_t n) const {
    if (n > in_.size()) throw Malformed{"truncated opcode argument"};
    return static_cast<size_t>(n);
  }
  const Elem& top() const {
    if (stack_.empty()) throw Malformed{"stack underflow"};
    return stack_.back();
  }
  // Pops n values (no marks among them); returns where the deepest one starts.
  size_t pop(size_t n) {
    if (stack_.size() < n) throw Malformed{"stack underflow"};
    const size_t start = stack_[stack_.size() - n].start;
    for (size_t k = 0; k < n; ++k) {
      if (stack_.back().kind == Kind::kMark) throw Malformed{"a MARK where a value is expected"};
      stack_.pop_back();
    }
    return start;
  }
  // Pops up to and including the topmost mark; returns where the mark starts.
  size_t pop_to_mark() {
    while (!stack_.empty() && stack_.back().kind != Kind::kMark) stack_.pop_back();
    if (stack_.empty()) throw Malformed{"no MARK on the stack"};
    const size_t start = stack_.back().start;
    stack_.pop_back();
    return start;
  }
  // LibTorch's unpickler reserves memo room for twice the index: an index beyond the number
  // of opcodes the stream can hold is corrupt (picklers number their PUTs from 0).
  void put(uint64_t index, size_t pos) {
    if (index > in_.size()) throw Malformed{"memo index larger than the stream"};
    memo_[index] = Memo{top().kind, pos, false};
  }
  // Pushes a memo entry; an OrderedDict class is re-emitted as its GLOBAL (its PUT may be gone).
  // Returns whether the GET opcode itself is to be dropped.
  bool get(uint64_t index, size_t pos) {
    auto it = memo_.find(index);
    if (it == memo_.end()) throw Malformed{"GET of a memo slot never PUT"};
    if (it->second.deleted) rewritable_ = false;  // its definition was erased from the output
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
      if (in_[k] < '0' || in_[k] > '9') throw Malformed{"a memo index that is not a number"};
      v = v * 10 + static_cast<uint64_t>(in_[k] - '0');
    }
    return v;
  }

  const std::string& in_;
  std::string out_;
  std::vector<Elem> stack_;
  std::unordered_map<uint64_t, Memo> memo_;
  bool rewritable_ = true;
};

}  // namespace

std::string rewrite_pickle_for_libtorch(const std::string& pickle) {
  try {
    return Rewriter(pickle).run();
  } catch (const Malformed& m) {
    throw std::runtime_error(std::string("malformed pickle data.pkl: ") + m.reason);
  }
}

}  // namespace mmhook::detail
