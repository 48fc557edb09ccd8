#include "mmhook/config/json_parse.h"

#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include "mmhook/core/error.h"
#include "mmhook/core/file_io.h"

namespace mmhook {
namespace {

// Long paths (a 10k-deep array) are cut in messages: the start says where it began.
std::string shown_path(const std::string& path) {
  constexpr size_t kMax = 120;
  if (path.empty()) return "the top level";
  if (path.size() <= kMax) return path;
  return path.substr(0, kMax) + "...";
}

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// nlohmann's messages start with "[json.exception.parse_error.101] ": the id says nothing to a
// user.
std::string strip_id(const std::string& what) {
  if (what.rfind("[json.exception.", 0) == 0) {
    const size_t close = what.find("] ");
    if (close != std::string::npos) return what.substr(close + 2);
  }
  return what;
}

// SAX handler that builds the DOM like nlohmann's own, with duplicate keys and the depth
// checked as they are read.
class StrictBuilder {
 public:
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit StrictBuilder(const std::string& source) : source_(source) {}

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(number_integer_t v) { return put(v); }
  bool number_unsigned(number_unsigned_t v) { return put(v); }
  bool number_float(number_float_t v, const string_t& /*text*/) { return put(v); }
  bool string(string_t& v) { return put(std::move(v)); }
  bool binary(binary_t& v) {  // not produced by JSON text; kept for the SAX interface
    *slot().first = json::binary(std::vector<std::uint8_t>(v.begin(), v.end()));
    return true;
  }
  bool start_object(std::size_t /*size*/) { return open(json::object()); }
  bool start_array(std::size_t /*size*/) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    Frame& top = stack_.back();
    if (top.value->contains(k))
      MMHOOK_THROW(Code::kConfig, source_, ": ", shown_path(child_path(top.path, k)),
                   ": duplicate key (each key may appear once in an object)");
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    MMHOOK_THROW(Code::kConfig, source_, ": invalid JSON: ", strip_id(ex.what()));
  }

  json take() { return std::move(root_); }

 private:
  struct Frame {
    json* value;
    std::string path;
  };

  // Where the next value goes, and its path.
  std::pair<json*, std::string> slot() {
    if (stack_.empty()) return {&root_, ""};
    Frame& top = stack_.back();
    if (top.value->is_array()) {
      const std::string path = top.path + "[" + std::to_string(top.value->size()) + "]";
      top.value->push_back(nullptr);
      return {&top.value->back(), path};
    }
    json* v = &(*top.value)[key_];
    return {v, child_path(top.path, key_)};
  }

  template <class V>
  bool put(V&& v) {
    *slot().first = json(std::forward<V>(v));
    return true;
  }

  bool open(json container) {
    auto [where, path] = slot();
    if (static_cast<int>(stack_.size()) >= kMaxConfigDepth)
      MMHOOK_THROW(Code::kConfig, source_, ": ", shown_path(path), ": nested deeper than ",
                   kMaxConfigDepth, " levels");
    *where = std::move(container);
    // Open containers are each the last value added to their parent, and nothing is added to
    // a parent while a child is open, so these pointers stay valid.
    stack_.push_back({where, std::move(path)});
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  const std::string& source_;
  json root_;
  std::vector<Frame> stack_;
  std::string key_;
};

template <class Input>
nlohmann::json parse_with(Input&& input, const std::string& source) {
  StrictBuilder builder(source);
  try {
    nlohmann::json::sax_parse(std::forward<Input>(input), &builder,
                              nlohmann::json::input_format_t::json, /*strict=*/true,
                              /*ignore_comments=*/true);
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    MMHOOK_THROW(Code::kConfig, source, ": invalid JSON: ", strip_id(e.what()));
  } catch (const std::bad_alloc&) {
    MMHOOK_THROW(Code::kOom, source, ": out of memory while parsing");
  }
  return builder.take();
}

}  // namespace

nlohmann::json parse_config_text(std::string_view text, const std::string& source) {
  return parse_with(text, source);
}

nlohmann::json parse_config_stream(std::istream& in, const std::string& source) {
  return parse_with(in, source);
}

nlohmann::json parse_config_file(const std::string& path) {
  const std::string text = read_regular_file(path, text_file_size_limit());
  return parse_config_text(text, "config file '" + path + "'");
}

void check_json_depth(const nlohmann::json& value, const std::string& what, int max_depth) {
  // Depth-first over containers with an explicit stack; the path is rebuilt only on failure.
  struct Item {
    const nlohmann::json* value;
    int depth;
    const Item* parent;
    std::string step;
  };
  std::vector<std::unique_ptr<Item>> items;
  std::vector<const Item*> todo;
  items.push_back(std::make_unique<Item>(Item{&value, value.is_structured() ? 1 : 0, nullptr, ""}));
  todo.push_back(items.back().get());
  while (!todo.empty()) {
    const Item* item = todo.back();
    todo.pop_back();
    if (item->depth > max_depth) {
      std::vector<const std::string*> steps;
      for (const Item* p = item; p != nullptr; p = p->parent) steps.push_back(&p->step);
      std::string path;
      for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
        if ((*it)->empty()) continue;
        if (!path.empty() && (*it)->front() != '[') path += '.';
        path += **it;
        if (path.size() > 200) break;
      }
      MMHOOK_THROW(Code::kConfig, what, ": ", shown_path(path), ": nested deeper than ", max_depth,
                   " levels");
    }
    if (item->value->is_object()) {
      for (auto it = item->value->begin(); it != item->value->end(); ++it) {
        if (!it->is_structured()) continue;
        items.push_back(std::make_unique<Item>(Item{&*it, item->depth + 1, item, it.key()}));
        todo.push_back(items.back().get());
      }
    } else if (item->value->is_array()) {
      for (size_t i = 0; i < item->value->size(); ++i) {
        const nlohmann::json& child = (*item->value)[i];
        if (!child.is_structured()) continue;
        items.push_back(std::make_unique<Item>(
            Item{&child, item->depth + 1, item, "[" + std::to_string(i) + "]"}));
        todo.push_back(items.back().get());
      }
    }
  }
}

}  // namespace mmhook
