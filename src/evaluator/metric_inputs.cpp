#include "evaluator/metric_inputs.h"

#include <ATen/core/Tensor.h>

#include "mmhook/core/error.h"

namespace mmhook::detail {
namespace {

std::string key_list(const TensorDict& dict) {
  if (dict.empty()) return "none";
  std::string out;
  for (const auto& kv : dict) out += (out.empty() ? "'" : ", '") + kv.first + "'";
  return out;
}

// [samples, elements per sample]; flatten(1) keeps an empty batch's shape ([0, 3]) where
// reshape({B, -1}) would fail on it.
at::Tensor per_sample(const at::Tensor& t) {
  if (t.dim() == 0) return t.reshape({1, 1});
  if (t.dim() == 1) return t.unsqueeze(1);
  return t.flatten(1);
}

}  // namespace

const at::Tensor& require_entry(const TensorDict& dict, const std::string& key,
                                const std::string& metric, const std::string& where,
                                const std::string& option) {
  const at::Tensor* found = dict.find(key);
  if (found == nullptr)
    MMHOOK_THROW(Code::kInvalidArgument, metric, ": ", where, " has no '", key, "' (", option,
                 "); its keys are ", key_list(dict));
  MMHOOK_CHECK(found->defined(), metric, ": ", where, "['", key, "'] (", option,
               ") is an undefined tensor");
  return *found;
}

at::Tensor prediction_error(const std::string& metric, const TensorDict& data_batch,
                            const TensorDict& outputs, const std::string& pred_key,
                            const std::string& target_key) {
  const at::Tensor& pred = require_entry(outputs, pred_key, metric, "outputs", "pred_key");
  const at::Tensor& target =
      require_entry(data_batch, target_key, metric, "data_batch", "target_key");
  MMHOOK_CHECK(!pred.is_complex() && !target.is_complex(), metric, ": outputs['", pred_key,
               "'] is ", pred.scalar_type(), " and data_batch['", target_key, "'] is ",
               target.scalar_type(), "; complex values are not supported");
  const at::Tensor p = per_sample(pred.detach());
  const at::Tensor t = per_sample(target.detach());
  MMHOOK_CHECK(p.sizes() == t.sizes(), metric, ": outputs['", pred_key, "'] (pred_key) has shape ",
               pred.sizes(), " and data_batch['", target_key, "'] (target_key) has shape ",
               target.sizes(), "; flattened per sample they must match, got ", p.sizes(), " and ",
               t.sizes());
  return p.to(at::kDouble).sub(t.to(p.device(), at::kDouble));
}

int64_t batch_size_of(const TensorDict& data_batch) {
  for (const auto& kv : data_batch)
    if (kv.second.defined() && kv.second.dim() >= 1) return kv.second.size(0);
  return -1;
}

}  // namespace mmhook::detail
