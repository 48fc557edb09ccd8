#include "mmhook/config/config_node.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string short_dump(const nlohmann::json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

template <class T>
T convert(const nlohmann::json& v, const ConfigNode& node, const std::string& key);

[[noreturn]] void type_error(const ConfigNode& node, const std::string& key, const char* expected,
                             const nlohmann::json& v) {
  node.fail(key, std::string("expected ") + expected + ", got " + short_dump(v));
}

template <>
bool convert<bool>(const nlohmann::json& v, const ConfigNode& n, const std::string& k) {
  if (!v.is_boolean()) type_error(n, k, "boolean", v);
  return v.get<bool>();
}
template <>
int64_t convert<int64_t>(const nlohmann::json& v, const ConfigNode& n, const std::string& k) {
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    n.fail(k, "integer " + v.dump() + " is beyond the 64-bit signed range");
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // Range first: converting a double outside int64's range is undefined behaviour.
    if (d >= -9.2233720368547758e18 && d < 9.2233720368547758e18 &&
        d == static_cast<double>(static_cast<int64_t>(d)))
      return static_cast<int64_t>(d);
  }
  type_error(n, k, "integer", v);
}
template <>
int convert<int>(const nlohmann::json& v, const ConfigNode& n, const std::string& k) {
  const int64_t x = convert<int64_t>(v, n, k);
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
    n.fail(k, "integer " + v.dump() + " is beyond the 32-bit range");
  return static_cast<int>(x);
}
template <>
double convert<double>(const nlohmann::json& v, const ConfigNode& n, const std::string& k) {
  if (!v.is_number()) type_error(n, k, "number", v);
  // Rates, factors and limits end up in float tensors: a larger magnitude would overflow there
  // and fail (or train to inf) far from the key that caused it.
  const double d = v.get<double>();
  if (!(std::fabs(d) <= static_cast<double>(std::numeric_limits<float>::max())))
    n.fail(k, "must be within float's range (magnitude at most 3.4e38), got " + v.dump());
  return d;
}
template <>
std::string convert<std::string>(const nlohmann::json& v, const ConfigNode& n,
                                 const std::string& k) {
  if (!v.is_string()) type_error(n, k, "string", v);
  return v.get<std::string>();
}
template <>
nlohmann::json convert<nlohmann::json>(const nlohmann::json& v, const ConfigNode&,
                                       const std::string&) {
  return v;
}
template <class E>
std::vector<E> convert_list(const nlohmann::json& v, const ConfigNode& n, const std::string& k,
                            const char* expected) {
  if (!v.is_array()) type_error(n, k, expected, v);
  std::vector<E> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out.push_back(convert<E>(v[i], n, k + "[" + std::to_string(i) + "]"));
  return out;
}
template <>
std::vector<int64_t> convert<std::vector<int64_t>>(const nlohmann::json& v, const ConfigNode& n,
                                                   const std::string& k) {
  return convert_list<int64_t>(v, n, k, "list of integers");
}
template <>
std::vector<double> convert<std::vector<double>>(const nlohmann::json& v, const ConfigNode& n,
                                                 const std::string& k) {
  return convert_list<double>(v, n, k, "list of numbers");
}
template <>
std::vector<std::string> convert<std::vector<std::string>>(const nlohmann::json& v,
                                                           const ConfigNode& n,
                                                           const std::string& k) {
  return convert_list<std::string>(v, n, k, "list of strings");
}

}  // namespace

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(name, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  return best_d <= limit ? best : std::string();
}

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  return "object";
}

ConfigNode::ConfigNode(nlohmann::json value, std::string path)
    : value_(std::move(value)),
      path_(std::move(path)),
      used_(std::make_shared<std::set<std::string>>()) {
  if (value_.is_null()) value_ = nlohmann::json::object();
  if (!value_.is_object())
    MMHOOK_THROW(Code::kConfig, path_.empty() ? "config" : path_, ": expected object, got ",
                 short_dump(value_));
}

std::string ConfigNode::key_path(const std::string& key) const {
  if (path_.empty()) return key;
  if (!key.empty() && key[0] == '[') return path_ + key;
  return path_ + "." + key;
}

bool ConfigNode::has(const std::string& key) const {
  auto it = value_.find(key);
  return it != value_.end() && !it->is_null();
}

bool ConfigNode::contains(const std::string& key) const { return value_.contains(key); }

void ConfigNode::mark_used(const std::string& key) const { used_->insert(key); }

template <class T>
T ConfigNode::require(const std::string& key) const {
  mark_used(key);
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null()) fail(key, "required key is missing");
  return convert<T>(*it, *this, key);
}

template bool ConfigNode::require<bool>(const std::string&) const;
template int64_t ConfigNode::require<int64_t>(const std::string&) const;
template int ConfigNode::require<int>(const std::string&) const;
template double ConfigNode::require<double>(const std::string&) const;
template std::string ConfigNode::require<std::string>(const std::string&) const;
template nlohmann::json ConfigNode::require<nlohmann::json>(const std::string&) const;
template std::vector<int64_t> ConfigNode::require<std::vector<int64_t>>(const std::string&) const;
template std::vector<double> ConfigNode::require<std::vector<double>>(const std::string&) const;
template std::vector<std::string> ConfigNode::require<std::vector<std::string>>(
    const std::string&) const;

ConfigNode ConfigNode::child(const std::string& key) const {
  mark_used(key);
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null())
    return ConfigNode(nlohmann::json::object(), key_path(key));
  if (!it->is_object()) fail(key, "expected object, got " + short_dump(*it));
  return ConfigNode(*it, key_path(key));
}

std::vector<ConfigNode> ConfigNode::children(const std::string& key) const {
  mark_used(key);
  std::vector<ConfigNode> out;
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null()) return out;
  if (it->is_object()) {
    out.emplace_back(*it, key_path(key));
    return out;
  }
  if (!it->is_array()) fail(key, "expected list of objects, got " + short_dump(*it));
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string p = key_path(key) + "[" + std::to_string(i) + "]";
    if (!(*it)[i].is_object())
      MMHOOK_THROW(Code::kConfig, p, ": expected object, got ", short_dump((*it)[i]));
    out.emplace_back((*it)[i], p);
  }
  return out;
}

void ConfigNode::check_unused(const std::vector<std::string>& extra_known) const {
  for (auto it = value_.begin(); it != value_.end(); ++it) {
    if (used_->count(it.key())) continue;
    std::vector<std::string> known(used_->begin(), used_->end());
    known.insert(known.end(), extra_known.begin(), extra_known.end());
    const std::string hint = did_you_mean(it.key(), known);
    fail(it.key(),
         "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
  }
}

void ConfigNode::fail(const std::string& key, const std::string& message) const {
  MMHOOK_THROW(Code::kConfig, key.empty() ? (path_.empty() ? "config" : path_) : key_path(key),
               ": ", message);
}

}  // namespace mmhook
