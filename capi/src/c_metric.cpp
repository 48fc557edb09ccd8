// C metrics: an mmh_metric_desc_t adapted into the engine's BaseMetric, registered by name in
// the metric registry so val_evaluator/test_evaluator entries can name it; and the accessors of
// the batch and results handles its callbacks receive.

#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "capi_internal.h"
#include "mmhook/evaluator/metric.h"

// The handle `process` receives: the batch of this call (borrowed) and the tensor handles
// given out during it.
struct mmh_metric_batch {
  bool active = false;
  const mmhook::TensorDict* data_batch = nullptr;
  const mmhook::TensorDict* outputs = nullptr;
  std::map<std::string, mmh_tensor> data_tensors;
  std::map<std::string, mmh_tensor> output_tensors;
  std::string error;
};

// The handle `compute` receives: the results written during this call.
struct mmh_metric_results {
  bool active = false;
  mmhook::Metrics values;
  std::string error;
};

namespace mmhook::capi {

template <>
struct FirstVersion<mmh_metric_desc_t> {
  static constexpr size_t size = offsetof(mmh_metric_desc_t, user_data_free) + sizeof(mmh_free_fn);
  static constexpr const char* name = "mmh_metric_desc_t";
};
template <>
inline mmh_metric_desc_t versioned_defaults<mmh_metric_desc_t>() noexcept {
  mmh_metric_desc_t d{};
  d.struct_size = sizeof(d);
  return d;
}

namespace {

// The registration's user_data, freed exactly once: when the type is unregistered and the
// last metric built from it is gone.
struct MetricOwner {
  explicit MetricOwner(const mmh_metric_desc_t& d) : desc(d) {}
  MetricOwner(const MetricOwner&) = delete;
  MetricOwner& operator=(const MetricOwner&) = delete;
  MetricOwner(MetricOwner&&) = delete;
  MetricOwner& operator=(MetricOwner&&) = delete;
  ~MetricOwner() {
    if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
  }
  mmh_metric_desc_t desc;
};

std::mutex& metric_types_mutex() {
  static std::mutex m;
  return m;
}
/// The metric type names registered from C.
std::set<std::string>& c_metric_types() {
  static std::set<std::string> names;
  return names;
}

/// Throws the run's error for a callback that returned `code`: it names the metric type, the
/// callback and the host's message.
[[noreturn]] void throw_callback_error(const std::string& type, const char* callback,
                                       mmh_code_t code, const std::string& message) {
  const std::string why = message.empty() ? std::string() : ": " + message;
  // A number outside mmh_code_t would reach the host as a code it cannot interpret.
  if (code <= MMH_OK || code > MMH_E_CANCELLED)
    MMHOOK_THROW(Code::kInternal, "metric type '", type, "' (from the C ABI): ", callback,
                 " returned ", code, ", which is not an mmh_code_t", why);
  MMHOOK_THROW(static_cast<Code>(code), "metric type '", type, "' (from the C ABI): ", callback,
               " failed with code ", code, why);
}

class CMetric final : public BaseMetric {
 public:
  CMetric(std::shared_ptr<MetricOwner> owner, std::string type, std::string prefix)
      : BaseMetric(std::move(prefix)), owner_(std::move(owner)), type_(std::move(type)) {}

  void process(const TensorDict& data_batch, const TensorDict& outputs) override {
    start_evaluation();
    // A member, so a handle kept past its call is refused rather than dangling.
    batch_.data_tensors.clear();
    batch_.output_tensors.clear();
    batch_.error.clear();
    batch_.data_batch = &data_batch;
    batch_.outputs = &outputs;
    batch_.active = true;
    const mmh_code_t code = owner_->desc.process(&batch_, owner_->desc.user_data);
    batch_.active = false;
    batch_.data_tensors.clear();
    batch_.output_tensors.clear();
    batch_.data_batch = nullptr;
    batch_.outputs = nullptr;
    if (code != MMH_OK) {
      evaluating_ = false;  // the next evaluation starts from a reset
      throw_callback_error(type_, "process", code, batch_.error);
    }
  }

  Metrics compute_metrics() override {
    start_evaluation();
    evaluating_ = false;
    results_.values = Metrics();
    results_.error.clear();
    results_.active = true;
    const mmh_code_t code = owner_->desc.compute(&results_, owner_->desc.user_data);
    results_.active = false;
    if (code != MMH_OK) throw_callback_error(type_, "compute", code, results_.error);
    // NaN is no value: it would be logged as null and compared as neither better nor worse by
    // save_best and early stopping. Infinities are values (the PSNR of an exact match).
    for (const auto& [name, value] : results_.values)
      if (std::isnan(value))
        MMHOOK_THROW(Code::kInvalidArgument, "metric type '", type_,
                     "' (from the C ABI): compute set '", name,
                     "' to NaN (a metric value must be a number; infinities are accepted)");
    return std::exchange(results_.values, Metrics());
  }

  void reset() override {
    evaluating_ = false;
    host_reset();
  }

  nlohmann::json results() const override {
    MMHOOK_THROW(Code::kDistributed, "metric type '", type_,
                 "' (from the C ABI) cannot be evaluated by several processes: metrics written "
                 "in C, Rust or Go are single-process");
  }

 private:
  void host_reset() {
    if (owner_->desc.reset != nullptr) owner_->desc.reset(owner_->desc.user_data);
  }
  /// The host's reset before the first batch of an evaluation.
  void start_evaluation() {
    if (evaluating_) return;
    host_reset();
    evaluating_ = true;
  }

  std::shared_ptr<MetricOwner> owner_;
  std::string type_;
  bool evaluating_ = false;
  mmh_metric_batch batch_;
  mmh_metric_results results_;
};

mmh_error_t* get_tensor(const mmh_metric_batch_t* batch_in, const char* key,
                        const mmh_tensor_t** out, bool output) noexcept {
  if (batch_in == nullptr) return null_argument("batch");
  if (key == nullptr) return null_argument("key");
  if (out == nullptr) return null_argument("out");
  if (!batch_in->active)
    return make_error(MMH_E_FAILED_PRECONDITION, "metric batch used outside its process call");
  auto* batch = const_cast<mmh_metric_batch_t*>(batch_in);  // the handle cache is not state
  return guard([&] {
    auto& cache = output ? batch->output_tensors : batch->data_tensors;
    auto it = cache.find(key);
    if (it == cache.end()) {
      const TensorDict& dict = output ? *batch->outputs : *batch->data_batch;
      if (!dict.contains(key) || !dict.at(key).defined())
        MMHOOK_THROW(Code::kNotFound, "no ", output ? "output" : "batch", " tensor '", key, "'");
      mmh_tensor handle;
      handle.tensor = dict.at(key);
      handle.shape = handle.tensor.sizes().vec();
      it = cache.emplace(key, std::move(handle)).first;
    }
    *out = &it->second;
  });
}

mmh_error_t* set_message(bool active, std::string* target, const char* message,
                         const char* outside) noexcept {
  if (message == nullptr) return null_argument("message");
  if (!active) return make_error(MMH_E_FAILED_PRECONDITION, outside);
  if (!is_utf8(message)) return make_error(MMH_E_INVALID_ARGUMENT, "message is not valid UTF-8");
  return guard([&] { *target = message; });
}

}  // namespace
}  // namespace mmhook::capi

using mmhook::capi::guard;
using mmhook::capi::make_error;

extern "C" {

void mmh_metric_desc_init(mmh_metric_desc_t* desc, size_t struct_size) {
  mmhook::capi::init_versioned(desc, struct_size);
}

mmh_error_t* mmh_metric_type_register(const char* name, const mmh_metric_desc_t* desc_in) {
  using mmhook::capi::MetricOwner;
  if (desc_in == nullptr) return mmhook::capi::null_argument("desc");
  if (mmh_error_t* err = mmhook::capi::check_struct_size(desc_in)) return err;
  const mmh_metric_desc_t desc =
      mmhook::capi::read_versioned(desc_in, mmhook::capi::versioned_defaults<mmh_metric_desc_t>());
  std::shared_ptr<MetricOwner> owner;
  try {
    owner = std::make_shared<MetricOwner>(desc);
  } catch (...) {
    if (desc.user_data_free != nullptr) desc.user_data_free(desc.user_data);
    return mmhook::capi::oom_error();
  }
  // From here on `owner` frees user_data when it is dropped, on every error path too.
  if (name == nullptr) return mmhook::capi::null_argument("name");
  if (name[0] == '\0') return make_error(MMH_E_INVALID_ARGUMENT, "name is empty");
  if (desc.process == nullptr) return mmhook::capi::null_argument("desc->process");
  if (desc.compute == nullptr) return mmhook::capi::null_argument("desc->compute");
  if (!mmhook::capi::is_utf8(name))
    return make_error(MMH_E_INVALID_ARGUMENT, "name is not valid UTF-8");
  return guard([&] {
    std::lock_guard<std::mutex> lock(mmhook::capi::metric_types_mutex());
    mmhook::metric_registry().add(name,
                                  [owner, type = std::string(name)](const mmhook::ConfigNode& cfg)
                                      -> std::shared_ptr<mmhook::BaseMetric> {
                                    return std::make_shared<mmhook::capi::CMetric>(
                                        owner, type, cfg.get<std::string>("prefix", ""));
                                  });
    mmhook::capi::c_metric_types().insert(name);
  });
}

mmh_error_t* mmh_metric_type_unregister(const char* name) {
  if (name == nullptr) return mmhook::capi::null_argument("name");
  return guard([&] {
    std::lock_guard<std::mutex> lock(mmhook::capi::metric_types_mutex());
    if (mmhook::capi::c_metric_types().erase(name) == 0)
      MMHOOK_THROW(mmhook::Code::kNotFound, "no metric type named '", name,
                   "' was registered from C");
    mmhook::metric_registry().remove(name);
  });
}

mmh_error_t* mmh_metric_batch_get_data_tensor(const mmh_metric_batch_t* batch, const char* key,
                                              const mmh_tensor_t** out) {
  return mmhook::capi::get_tensor(batch, key, out, false);
}

mmh_error_t* mmh_metric_batch_get_output_tensor(const mmh_metric_batch_t* batch, const char* key,
                                                const mmh_tensor_t** out) {
  return mmhook::capi::get_tensor(batch, key, out, true);
}

mmh_error_t* mmh_metric_batch_set_error(mmh_metric_batch_t* batch, const char* message) {
  if (batch == nullptr) return mmhook::capi::null_argument("batch");
  return mmhook::capi::set_message(batch->active, &batch->error, message,
                                   "metric batch used outside its process call");
}

mmh_error_t* mmh_metric_results_set_value(mmh_metric_results_t* results, const char* name,
                                          double value) {
  if (results == nullptr) return mmhook::capi::null_argument("results");
  if (name == nullptr) return mmhook::capi::null_argument("name");
  if (!results->active)
    return make_error(MMH_E_FAILED_PRECONDITION, "metric results used outside their compute call");
  if (name[0] == '\0') return make_error(MMH_E_INVALID_ARGUMENT, "name is empty");
  if (!mmhook::capi::is_utf8(name))
    return make_error(MMH_E_INVALID_ARGUMENT, "name is not valid UTF-8");
  return guard([&] { results->values.set(name, value); });
}

mmh_error_t* mmh_metric_results_set_error(mmh_metric_results_t* results, const char* message) {
  if (results == nullptr) return mmhook::capi::null_argument("results");
  return mmhook::capi::set_message(results->active, &results->error, message,
                                   "metric results used outside their compute call");
}

}  // extern "C"
