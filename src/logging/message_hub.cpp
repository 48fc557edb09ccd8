#include "mmhook/logging/message_hub.h"

#include <mutex>
#include <utility>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

std::mutex& current_mutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}
MessageHub* g_current = nullptr;  // guarded by current_mutex()
MessageHub* g_default = nullptr;  // the lazily created "mmengine" hub, never destroyed

}  // namespace

MessageHub::MessageHub(std::string name) : name_(std::move(name)) {
  std::lock_guard<std::mutex> lock(current_mutex());
  g_current = this;
}

MessageHub::~MessageHub() {
  std::lock_guard<std::mutex> lock(current_mutex());
  if (g_current == this) g_current = nullptr;
}

MessageHub& MessageHub::get_current_instance() {
  {
    std::lock_guard<std::mutex> lock(current_mutex());
    if (g_current != nullptr) return *g_current;
    if (g_default != nullptr) {
      g_current = g_default;
      return *g_default;
    }
  }
  // Constructed outside the lock: the constructor takes it to become current.
  MessageHub* hub = new MessageHub("mmengine");
  std::lock_guard<std::mutex> lock(current_mutex());
  if (g_default == nullptr) {
    g_default = hub;
  } else {
    delete hub;  // another thread won the race; deleting resets g_current if it was hub
  }
  if (g_current == nullptr) g_current = g_default;
  return *g_current;
}

void MessageHub::set_resumed(const std::string& key, bool resumed) {
  if (const bool* flag = resumed_keys_.find(key)) {
    MMHOOK_CHECK_CODE(*flag == resumed, Code::kFailedPrecondition, "MessageHub '", name_,
                      "': key '", key, "' used to be resumed=", *flag ? "true" : "false",
                      ", got resumed=", resumed ? "true" : "false",
                      "; a key's resumed flag cannot change");
    return;
  }
  resumed_keys_.set(key, resumed);
}

namespace {
// The value of a one-element tensor as `item<double>()` gives it; CPU tensors are read directly
// (no operator dispatch), others through `item` (one device read each).
double read_scalar(const at::Tensor& t) {
  if (t.device().is_cpu() && t.numel() == 1 && !t.is_complex()) {
    const void* p = t.data_ptr();
    switch (t.scalar_type()) {
      case at::kFloat: return static_cast<double>(*static_cast<const float*>(p));
      case at::kDouble: return *static_cast<const double*>(p);
      case at::kHalf:
        return static_cast<double>(static_cast<float>(*static_cast<const c10::Half*>(p)));
      case at::kBFloat16:
        return static_cast<double>(static_cast<float>(*static_cast<const c10::BFloat16*>(p)));
      case at::kLong: return static_cast<double>(*static_cast<const int64_t*>(p));
      case at::kInt: return static_cast<double>(*static_cast<const int32_t*>(p));
      default: break;
    }
  }
  return t.item<double>();
}
}  // namespace

void MessageHub::update_scalar_lazy(const std::string& key, const at::Tensor& value, bool resumed) {
  MMHOOK_CHECK(value.defined() && value.numel() == 1, "MessageHub.update_scalar_lazy('", key,
               "'): expected a one-element tensor, got ",
               value.defined() ? std::to_string(value.numel()) + " elements" : "undefined");
  set_resumed(key, resumed);
  if (!log_scalars_.contains(key)) log_scalars_.set(key, HistoryBuffer());
  // Bounded: a hub nobody reads still folds its values in every kMaxPending updates.
  constexpr size_t kMaxPending = 1024;
  if (pending_.size() >= kMaxPending) flush_pending();
  if (pending_.capacity() == 0) pending_.reserve(kMaxPending);
  pending_.emplace_back(key, value);
  bool known = false;
  for (const auto& k : pending_keys_) known = known || k == key;
  if (!known) pending_keys_.push_back(key);
}

void MessageHub::flush_pending() const {
  if (pending_.empty()) return;
  // Values are read in order; the list is emptied even when a read fails.
  std::vector<std::pair<std::string, at::Tensor>> pending;
  pending.swap(pending_);
  pending_keys_.clear();
  for (const auto& [key, tensor] : pending) {
    HistoryBuffer* buffer = log_scalars_.find(key);
    if (buffer != nullptr) buffer->update(read_scalar(tensor), 1);
  }
  pending.clear();
  pending.swap(pending_);  // keep the capacity: no allocation in the next interval
  pending_keys_.clear();
}

const OrderedMap<HistoryBuffer>& MessageHub::log_scalars() const {
  flush_pending();
  return log_scalars_;
}

void MessageHub::update_scalar(const std::string& key, double value, int64_t count, bool resumed) {
  for (const auto& k : pending_keys_) {
    if (k == key) {  // keep this key's history in call order
      flush_pending();
      break;
    }
  }
  set_resumed(key, resumed);
  if (HistoryBuffer* buffer = log_scalars_.find(key)) {
    buffer->update(value, count);
    return;
  }
  HistoryBuffer buffer;
  buffer.update(value, count);
  log_scalars_.set(key, std::move(buffer));
}

void MessageHub::update_scalars(const OrderedMap<double>& values, bool resumed) {
  for (const auto& kv : values) update_scalar(kv.first, kv.second, 1, resumed);
}

void MessageHub::update_scalars(const OrderedMap<ScalarValue>& values, bool resumed) {
  for (const auto& kv : values) update_scalar(kv.first, kv.second.value, kv.second.count, resumed);
}

bool MessageHub::has_scalar(const std::string& key) const { return log_scalars_.contains(key); }

const HistoryBuffer& MessageHub::get_scalar(const std::string& key) const {
  flush_pending();
  const HistoryBuffer* buffer = log_scalars_.find(key);
  if (buffer == nullptr) {
    MMHOOK_THROW(Code::kNotFound, "'", key, "' is not found in MessageHub.log_scalars (instance '",
                 name_, "')");
  }
  return *buffer;
}

void MessageHub::update_info(const std::string& key, nlohmann::json value, bool resumed) {
  set_resumed(key, resumed);
  runtime_info_.set(key, std::move(value));
}

void MessageHub::update_info_dict(const nlohmann::json& info, bool resumed) {
  MMHOOK_CHECK(info.is_object(), "MessageHub.update_info_dict expects a JSON object, got ",
               info.type_name());
  for (auto it = info.begin(); it != info.end(); ++it) update_info(it.key(), it.value(), resumed);
}

nlohmann::json MessageHub::get_info(const std::string& key, nlohmann::json fallback) const {
  const nlohmann::json* v = runtime_info_.find(key);
  if (v != nullptr) return *v;
  return fallback;  // moved, not copied
}

bool MessageHub::has_info(const std::string& key) const { return runtime_info_.contains(key); }

nlohmann::json MessageHub::pop_info(const std::string& key, nlohmann::json fallback) {
  nlohmann::json* v = runtime_info_.find(key);
  if (v == nullptr) return fallback;
  nlohmann::json out = std::move(*v);
  runtime_info_.erase(key);
  return out;
}

bool MessageHub::is_resumed(const std::string& key) const {
  const bool* flag = resumed_keys_.find(key);
  if (flag == nullptr) {
    MMHOOK_THROW(Code::kNotFound, "'", key, "' has no resumed flag in MessageHub '", name_, "'");
  }
  return *flag;
}

}  // namespace mmhook
