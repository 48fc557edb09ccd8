#pragma once
// How the built-in metrics read their inputs from a data batch and the model's predict outputs:
// a key that is missing names itself and the keys that are there; predictions and targets are
// compared per sample.

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "mmhook/core/tensor_dict.h"

namespace mmhook::detail {

/// The defined tensor at `key` of `dict`, which `where` names in the error ("outputs" for the
/// model's predict outputs, "data_batch" for the batch); otherwise an invalid-argument Error
/// "<metric>: <where> has no '<key>' (<option>); its keys are 'a', 'b'".
const at::Tensor& require_entry(const TensorDict& dict, const std::string& key,
                                const std::string& metric, const std::string& where,
                                const std::string& option);

/// prediction - target in double precision, on the prediction's device, both flattened per
/// sample to [samples, elements]: outputs[pred_key] and data_batch[target_key] must then have
/// the same shape ([B] and [B, 1] match; a 0-dim tensor is one sample of one element), otherwise
/// an invalid-argument Error naming `metric`, both keys and both shapes. Complex tensors are
/// rejected. NaN and inf are kept.
at::Tensor prediction_error(const std::string& metric, const TensorDict& data_batch,
                            const TensorDict& outputs, const std::string& pred_key,
                            const std::string& target_key);

/// The leading dimension of the first tensor of `data_batch` that has one (a collated batch's
/// tensors share it), or -1 when none has.
int64_t batch_size_of(const TensorDict& data_batch);

}  // namespace mmhook::detail
