#pragma once
/// @file
/// Conversions between JSON values and `c10::IValue` trees (checkpoint metadata, hook states).

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

namespace mmhook {

/// A new empty `GenericDict` with string keys and values of any type (a checkpoint dict node).
c10::impl::GenericDict make_generic_dict();

/// A new empty `GenericList` with elements of any type.
c10::impl::GenericList make_generic_list();

/// JSON → IValue: null → None, bool, integer → int64, float → double, string, array →
/// `GenericList(AnyType)`, object → `GenericDict(str, Any)` in the JSON value's iteration order.
/// An unsigned integer above INT64_MAX is an Error kInvalidArgument.
c10::IValue json_to_ivalue(const nlohmann::json& value);

/// IValue → JSON, the inverse of `json_to_ivalue`: lists and tuples → arrays, dicts → objects
/// (int and bool keys are written as their decimal text), one-element tensors → numbers
/// (or bool); any other tensor or IValue kind is an Error kInvalidArgument naming it.
nlohmann::json ivalue_to_json(const c10::IValue& value);

}  // namespace mmhook
