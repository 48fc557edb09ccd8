#pragma once
/// @file
/// A small insertion-ordered string map (Python dict semantics) used for batches, model outputs,
/// log variables and metrics.

#include <string>
#include <utility>
#include <vector>

#include "mmhook/core/error.h"

namespace mmhook {

/// Insertion-ordered map from string keys to `V`; lookups are linear (maps here hold a handful
/// of entries, where a vector beats a hash map).
template <class V>
class OrderedMap {
 public:
  /// A (key, value) entry.
  using value_type = std::pair<std::string, V>;
  /// Iterates entries in insertion order.
  using iterator = typename std::vector<value_type>::iterator;
  /// Iterates entries in insertion order (read-only).
  using const_iterator = typename std::vector<value_type>::const_iterator;

  OrderedMap() = default;
  /// Builds from a list of pairs, in order.
  OrderedMap(std::initializer_list<value_type> items) {
    for (const auto& kv : items) set(kv.first, kv.second);
  }

  /// Inserts or overwrites `key` (an overwritten key keeps its position).
  void set(const std::string& key, V value) {
    for (auto& kv : items_) {
      if (kv.first == key) {
        kv.second = std::move(value);
        return;
      }
    }
    items_.emplace_back(key, std::move(value));
  }
  /// Inserts `key` at the front (overwriting in place if present).
  void set_front(const std::string& key, V value) {
    for (auto& kv : items_) {
      if (kv.first == key) {
        kv.second = std::move(value);
        return;
      }
    }
    items_.insert(items_.begin(), value_type(key, std::move(value)));
  }
  /// Pointer to the value of `key`, or nullptr.
  const V* find(const std::string& key) const {
    for (const auto& kv : items_)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  /// Pointer to the value of `key`, or nullptr.
  V* find(const std::string& key) {
    for (auto& kv : items_)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  /// True when `key` is present.
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  /// Value of `key`; throws a not-found Error naming the key otherwise.
  const V& at(const std::string& key) const {
    const V* v = find(key);
    if (v == nullptr) MMHOOK_THROW(Code::kNotFound, "key '", key, "' not found");
    return *v;
  }
  /// Mutable value of `key`; throws a not-found Error naming the key otherwise.
  V& at(const std::string& key) {
    V* v = find(key);
    if (v == nullptr) MMHOOK_THROW(Code::kNotFound, "key '", key, "' not found");
    return *v;
  }
  /// Removes `key`; returns whether it was present.
  bool erase(const std::string& key) {
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (it->first == key) {
        items_.erase(it);
        return true;
      }
    }
    return false;
  }
  /// Number of entries.
  size_t size() const { return items_.size(); }
  /// True when empty.
  bool empty() const { return items_.empty(); }
  /// Removes every entry (keeps capacity).
  void clear() { items_.clear(); }
  /// Keys in insertion order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& kv : items_) out.push_back(kv.first);
    return out;
  }
  /// First entry (insertion order).
  iterator begin() { return items_.begin(); }
  /// Past the last entry.
  iterator end() { return items_.end(); }
  /// First entry (insertion order).
  const_iterator begin() const { return items_.begin(); }
  /// Past the last entry.
  const_iterator end() const { return items_.end(); }

 private:
  std::vector<value_type> items_;
};

}  // namespace mmhook
