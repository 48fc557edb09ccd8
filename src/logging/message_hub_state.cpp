// MessageHub's checkpoint state (MMEngine's `MessageHub.state_dict` / `load_state_dict`): the
// resumed scalars' histories, the resumed runtime info and the resumed flags, as the IValue dict
// stored under `message_hub` in a checkpoint.

#include "mmhook/logging/message_hub.h"

#include <string>

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

c10::impl::GenericDict new_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

[[noreturn]] void bad_state(const std::string& key, const std::string& what) {
  MMHOOK_THROW(Code::kCheckpoint, "MessageHub.load_state_dict: '", key, "' ", what);
}

c10::impl::GenericDict dict_at(const c10::impl::GenericDict& dict, const std::string& key,
                               const std::string& path) {
  auto it = dict.find(c10::IValue(key));
  if (it == dict.end()) bad_state(path, "is missing");
  if (!it->value().isGenericDict()) bad_state(path, "must be a dict");
  return it->value().toGenericDict();
}

c10::IValue hub_json_to_ivalue(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return c10::IValue();
    case nlohmann::json::value_t::boolean: return c10::IValue(value.get<bool>());
    case nlohmann::json::value_t::number_integer: return c10::IValue(value.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return c10::IValue(static_cast<int64_t>(value.get<uint64_t>()));
    case nlohmann::json::value_t::number_float: return c10::IValue(value.get<double>());
    case nlohmann::json::value_t::string: return c10::IValue(value.get<std::string>());
    case nlohmann::json::value_t::array: {
      c10::impl::GenericList list(c10::AnyType::get());
      list.reserve(value.size());
      for (const auto& e : value) list.push_back(hub_json_to_ivalue(e));
      return c10::IValue(list);
    }
    case nlohmann::json::value_t::object: {
      auto dict = new_dict();
      for (auto it = value.begin(); it != value.end(); ++it)
        dict.insert(it.key(), hub_json_to_ivalue(it.value()));
      return c10::IValue(dict);
    }
    default:
      MMHOOK_THROW(Code::kInvalidArgument, "json_to_ivalue: unsupported JSON type ",
                   value.type_name());
  }
}

nlohmann::json hub_ivalue_to_json(const c10::IValue& value, const std::string& where) {
  if (value.isNone()) return nullptr;
  if (value.isBool()) return value.toBool();
  if (value.isInt()) return value.toInt();
  if (value.isDouble()) return value.toDouble();
  if (value.isString()) return value.toStringRef();
  if (value.isList()) {
    nlohmann::json out = nlohmann::json::array();
    const auto list = value.toList();
    for (size_t i = 0; i < list.size(); ++i)
      out.push_back(hub_ivalue_to_json(list.get(i), where + "[" + std::to_string(i) + "]"));
    return out;
  }
  if (value.isTuple()) {
    nlohmann::json out = nlohmann::json::array();
    const auto& elems = value.toTupleRef().elements();
    for (size_t i = 0; i < elems.size(); ++i)
      out.push_back(hub_ivalue_to_json(elems[i], where + "[" + std::to_string(i) + "]"));
    return out;
  }
  if (value.isGenericDict()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& item : value.toGenericDict()) {
      if (!item.key().isString()) {
        MMHOOK_THROW(Code::kInvalidArgument, where, ": dict keys must be strings, got ",
                     item.key().tagKind());
      }
      const std::string& k = item.key().toStringRef();
      out[k] = hub_ivalue_to_json(item.value(), where + "." + k);
    }
    return out;
  }
  MMHOOK_THROW(Code::kInvalidArgument, where, ": cannot convert a ", value.tagKind(), " to JSON");
}

}  // namespace

c10::IValue MessageHub::state_dict() const {
  flush_pending();
  auto scalars = new_dict();
  for (const auto& kv : log_scalars_) {
    const bool* flag = resumed_keys_.find(kv.first);
    if (flag == nullptr || !*flag) continue;
    const HistoryBuffer& buffer = kv.second;
    c10::List<double> values;
    c10::List<int64_t> counts;
    values.reserve(buffer.size());
    counts.reserve(buffer.size());
    for (size_t i = 0; i < buffer.size(); ++i) {
      values.push_back(buffer.values_data()[i]);
      counts.push_back(buffer.counts_data()[i]);
    }
    auto entry = new_dict();
    entry.insert("log_history", c10::IValue(values));
    entry.insert("count_history", c10::IValue(counts));
    entry.insert("max_length", c10::IValue(static_cast<int64_t>(buffer.max_length())));
    scalars.insert(kv.first, c10::IValue(entry));
  }
  auto info = new_dict();
  for (const auto& kv : runtime_info_) {
    const bool* flag = resumed_keys_.find(kv.first);
    if (flag == nullptr || !*flag) continue;
    info.insert(kv.first, hub_json_to_ivalue(kv.second));
  }
  auto flags = new_dict();
  for (const auto& kv : resumed_keys_) flags.insert(kv.first, c10::IValue(kv.second));
  auto out = new_dict();
  out.insert("log_scalars", c10::IValue(scalars));
  out.insert("runtime_info", c10::IValue(info));
  out.insert("resumed_keys", c10::IValue(flags));
  return c10::IValue(out);
}

void MessageHub::load_state_dict(const c10::IValue& state) {
  flush_pending();
  if (!state.isGenericDict()) bad_state("message_hub", "must be a dict");
  const auto root = state.toGenericDict();
  const auto scalars = dict_at(root, "log_scalars", "log_scalars");
  const auto info = dict_at(root, "runtime_info", "runtime_info");
  const auto flags = dict_at(root, "resumed_keys", "resumed_keys");

  // Parse everything first so a malformed state leaves the hub untouched.
  OrderedMap<HistoryBuffer> new_scalars;
  for (const auto& item : scalars) {
    if (!item.key().isString()) bad_state("log_scalars", "has a non-string key");
    const std::string key = item.key().toStringRef();
    const std::string path = "log_scalars." + key;
    if (!item.value().isGenericDict()) bad_state(path, "must be a dict");
    const auto entry = item.value().toGenericDict();
    auto read_list = [&](const char* name) {
      auto it = entry.find(c10::IValue(std::string(name)));
      if (it == entry.end()) bad_state(path + "." + name, "is missing");
      if (!it->value().isList()) bad_state(path + "." + name, "must be a list");
      return it->value().toList();
    };
    std::vector<double> values;
    std::vector<int64_t> counts;
    for (const c10::IValue& v : read_list("log_history")) {
      if (v.isDouble())
        values.push_back(v.toDouble());
      else if (v.isInt())
        values.push_back(static_cast<double>(v.toInt()));
      else if (v.isBool())
        values.push_back(v.toBool() ? 1.0 : 0.0);
      else
        bad_state(path + ".log_history", "must hold numbers");
    }
    for (const c10::IValue& v : read_list("count_history")) {
      if (v.isInt())
        counts.push_back(v.toInt());
      else if (v.isDouble())
        counts.push_back(static_cast<int64_t>(v.toDouble()));
      else
        bad_state(path + ".count_history", "must hold numbers");
    }
    if (values.size() != counts.size()) {
      bad_state(path, "has log_history and count_history of different lengths");
    }
    int64_t max_length = 1000000;
    auto ml = entry.find(c10::IValue(std::string("max_length")));
    if (ml != entry.end()) {
      if (!ml->value().isInt() || ml->value().toInt() <= 0) {
        bad_state(path + ".max_length", "must be a positive integer");
      }
      max_length = ml->value().toInt();
    }
    new_scalars.set(
        key, HistoryBuffer(std::move(values), std::move(counts), static_cast<size_t>(max_length)));
  }
  OrderedMap<nlohmann::json> new_info;
  for (const auto& item : info) {
    if (!item.key().isString()) bad_state("runtime_info", "has a non-string key");
    const std::string key = item.key().toStringRef();
    try {
      new_info.set(key, hub_ivalue_to_json(item.value(), "runtime_info." + key));
    } catch (const Error& e) {
      MMHOOK_THROW(Code::kCheckpoint, "MessageHub.load_state_dict: ", e.what());
    }
  }
  OrderedMap<bool> new_flags;
  for (const auto& item : flags) {
    if (!item.key().isString()) bad_state("resumed_keys", "has a non-string key");
    const std::string key = item.key().toStringRef();
    if (!item.value().isBool()) bad_state("resumed_keys." + key, "must be a bool");
    new_flags.set(key, item.value().toBool());
  }

  for (auto& kv : new_scalars) log_scalars_.set(kv.first, std::move(kv.second));
  for (auto& kv : new_info) runtime_info_.set(kv.first, std::move(kv.second));
  // Like MMEngine: flags of keys the hub does not hold are ignored.
  for (const auto& kv : new_flags) {
    if (log_scalars_.contains(kv.first) || runtime_info_.contains(kv.first)) {
      resumed_keys_.set(kv.first, kv.second);
    }
  }
  // A loaded key without a listed flag counts as resumed (MMEngine's default).
  for (const auto& kv : new_scalars)
    if (!resumed_keys_.contains(kv.first)) resumed_keys_.set(kv.first, true);
  for (const auto& kv : new_info)
    if (!resumed_keys_.contains(kv.first)) resumed_keys_.set(kv.first, true);
}

}  // namespace mmhook
