#include "mmhook/dist/config_check.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "mmhook/core/error.h"
#include "mmhook/dist/dist.h"

namespace mmhook {
namespace dist {
namespace {

std::string fnv1a_hex(const std::string& text) {
  uint64_t h = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

void flatten_into(const nlohmann::json& v, const std::string& path, FlatConfig& out) {
  if (v.is_object() && !v.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it)
      flatten_into(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    return;
  }
  if (v.is_array() && !v.empty()) {
    for (size_t i = 0; i < v.size(); ++i)
      flatten_into(v[i], path + "[" + std::to_string(i) + "]", out);
    return;
  }
  std::string text = v.dump();
  if (text.size() > 64) text = text.substr(0, 40) + "... (digest " + fnv1a_hex(text) + ")";
  out.emplace_back(path.empty() ? "<root>" : path, std::move(text));
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i == 8 && ranks.size() > 9) {
      out += " and " + std::to_string(ranks.size() - 8) + " more";
      break;
    }
    out += (i ? ", " : "") + std::to_string(ranks[i]);
  }
  return out;
}

}  // namespace

FlatConfig flatten_config(const nlohmann::json& config) {
  FlatConfig out;
  flatten_into(config, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

std::string config_digest(const nlohmann::json& config) { return fnv1a_hex(config.dump()); }

std::string ConfigMismatch::describe() const {
  std::string out = "'" + key + "' is ";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += i + 1 == values.size() ? " and " : ", ";
    out += values[i].first + " on " + rank_list(values[i].second);
  }
  return out;
}

std::optional<ConfigMismatch> find_config_mismatch(const std::vector<FlatConfig>& per_rank) {
  std::map<std::string, std::vector<const std::string*>> by_key;
  for (size_t r = 0; r < per_rank.size(); ++r) {
    for (const auto& [key, value] : per_rank[r]) {
      auto& slot = by_key[key];
      slot.resize(per_rank.size(), nullptr);
      slot[r] = &value;
    }
  }
  static const std::string kMissing = "<missing>";
  // Not a structured binding: C++17 lambdas cannot capture one.
  for (auto& entry : by_key) {
    const std::string& key = entry.first;
    std::vector<const std::string*>& values = entry.second;
    values.resize(per_rank.size(), nullptr);
    const auto same = [&](const std::string* a, const std::string* b) {
      return (a == nullptr && b == nullptr) || (a != nullptr && b != nullptr && *a == *b);
    };
    if (std::all_of(values.begin(), values.end(),
                    [&](const std::string* v) { return same(v, values.front()); }))
      continue;
    ConfigMismatch m;
    m.key = key;
    for (size_t r = 0; r < values.size(); ++r) {
      const std::string& text = values[r] != nullptr ? *values[r] : kMissing;
      auto it = std::find_if(m.values.begin(), m.values.end(),
                             [&](const auto& entry) { return entry.first == text; });
      if (it == m.values.end()) {
        m.values.emplace_back(text, std::vector<int>{});
        it = m.values.end() - 1;
      }
      it->second.push_back(static_cast<int>(r));
    }
    return m;
  }
  return std::nullopt;
}

void check_config_across_ranks(const nlohmann::json& config) {
  if (get_world_size() <= 1) return;
  const std::vector<nlohmann::json> digests = all_gather_object(config_digest(config));
  if (std::all_of(digests.begin(), digests.end(),
                  [&](const nlohmann::json& d) { return d == digests.front(); }))
    return;
  nlohmann::json mine = nlohmann::json::array();
  for (const auto& [key, value] : flatten_config(config)) mine.push_back({key, value});
  std::vector<FlatConfig> per_rank;
  for (const nlohmann::json& flat : all_gather_object(mine)) {
    FlatConfig f;
    for (const auto& entry : flat)
      f.emplace_back(entry[0].get<std::string>(), entry[1].get<std::string>());
    per_rank.push_back(std::move(f));
  }
  const std::optional<ConfigMismatch> m = find_config_mismatch(per_rank);
  // Every difference of the JSON text shows in some flattened entry; still, never dereference
  // an empty optional on a rank whose peers sent something unexpected.
  MMHOOK_CHECK_CODE(m.has_value(), Code::kConfig, "the config differs across ranks (digest ",
                    digests.front().get<std::string>(),
                    " on rank 0); every rank must run the same config");
  MMHOOK_THROW(Code::kConfig, "the config differs across ranks: ", m->describe(), " (rank ",
               get_rank(), " of ", get_world_size(), "; every rank must run the same config)");
}

}  // namespace dist
}  // namespace mmhook
