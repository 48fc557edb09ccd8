#include "mmhook/checkpoint/ivalue_json.h"

#include <limits>
#include <string>

#include "mmhook/core/error.h"

namespace mmhook {

c10::impl::GenericDict make_generic_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

c10::impl::GenericList make_generic_list() { return c10::impl::GenericList(c10::AnyType::get()); }

c10::IValue json_to_ivalue(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded: return c10::IValue();
    case nlohmann::json::value_t::boolean: return c10::IValue(value.get<bool>());
    case nlohmann::json::value_t::number_integer: return c10::IValue(value.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = value.get<uint64_t>();
      MMHOOK_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "json_to_ivalue: integer ", u, " does not fit in int64");
      return c10::IValue(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return c10::IValue(value.get<double>());
    case nlohmann::json::value_t::string: return c10::IValue(value.get<std::string>());
    case nlohmann::json::value_t::array: {
      auto list = make_generic_list();
      list.reserve(value.size());
      for (const auto& item : value) list.push_back(json_to_ivalue(item));
      return c10::IValue(list);
    }
    case nlohmann::json::value_t::object: {
      auto dict = make_generic_dict();
      for (auto it = value.begin(); it != value.end(); ++it) {
        dict.insert_or_assign(c10::IValue(it.key()), json_to_ivalue(it.value()));
      }
      return c10::IValue(dict);
    }
    case nlohmann::json::value_t::binary: break;
  }
  MMHOOK_THROW(Code::kInvalidArgument, "json_to_ivalue: unsupported JSON type '", value.type_name(),
               "'");
}

namespace {

std::string key_to_string(const c10::IValue& key) {
  if (key.isString()) return key.toStringRef();
  if (key.isInt()) return std::to_string(key.toInt());
  if (key.isBool()) return key.toBool() ? "true" : "false";
  MMHOOK_THROW(Code::kInvalidArgument, "ivalue_to_json: dict key of type '", key.tagKind(),
               "' cannot be a JSON object key");
}

nlohmann::json tensor_to_json(const at::Tensor& tensor) {
  MMHOOK_CHECK(tensor.defined(), "ivalue_to_json: undefined tensor has no JSON form");
  MMHOOK_CHECK(tensor.numel() == 1,
               "ivalue_to_json: only one-element tensors become numbers, got a ",
               tensor.scalar_type(), " tensor of shape ", tensor.sizes());
  const auto type = tensor.scalar_type();
  if (type == at::kBool) return tensor.item<bool>();
  if (at::isIntegralType(type, /*includeBool=*/false)) return tensor.item<int64_t>();
  MMHOOK_CHECK(at::isFloatingType(type), "ivalue_to_json: ", type, " tensor has no JSON form");
  return tensor.item<double>();
}

}  // namespace

nlohmann::json ivalue_to_json(const c10::IValue& value) {
  if (value.isNone()) return nullptr;
  if (value.isBool()) return value.toBool();
  if (value.isInt()) return value.toInt();
  if (value.isDouble()) return value.toDouble();
  if (value.isString()) return value.toStringRef();
  if (value.isTensor()) return tensor_to_json(value.toTensor());
  if (value.isList()) {
    auto out = nlohmann::json::array();
    for (const auto& item : value.toListRef()) out.push_back(ivalue_to_json(item));
    return out;
  }
  if (value.isTuple()) {
    auto out = nlohmann::json::array();
    for (const auto& item : value.toTupleRef().elements()) out.push_back(ivalue_to_json(item));
    return out;
  }
  if (value.isGenericDict()) {
    auto out = nlohmann::json::object();
    for (const auto& entry : value.toGenericDict()) {
      out[key_to_string(entry.key())] = ivalue_to_json(entry.value());
    }
    return out;
  }
  MMHOOK_THROW(Code::kInvalidArgument, "ivalue_to_json: value of type '", value.tagKind(),
               "' has no JSON form");
}

}  // namespace mmhook
