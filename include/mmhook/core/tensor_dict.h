#pragma once
/// @file
/// `TensorDict`: named tensors (a batch, a model's outputs, log variables).

#include <ATen/core/Tensor.h>

#include "mmhook/core/ordered_map.h"

namespace mmhook {

/// Insertion-ordered name → tensor map. Batches carry "inputs" and "targets"; a train step's
/// outputs carry "loss" first, then the other log variables; val/test outputs carry "outputs".
class TensorDict : public OrderedMap<at::Tensor> {
 public:
  using OrderedMap<at::Tensor>::OrderedMap;
};

}  // namespace mmhook
