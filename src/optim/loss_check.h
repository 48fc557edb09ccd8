#pragma once

// Checks a loss before backward, so that a model whose output is not connected to its
// parameters gets a message naming that, not LibTorch's "element 0 of tensors does not
// require grad".

#include <ATen/core/Tensor.h>

#include "mmhook/core/error.h"

namespace mmhook {

inline void check_loss_for_backward(const at::Tensor& loss) {
  MMHOOK_CHECK(loss.defined(), "OptimWrapper.backward: the loss is an undefined tensor");
  MMHOOK_CHECK(loss.numel() == 1, "OptimWrapper.backward: the loss must be a scalar, got shape ",
               loss.sizes());
  MMHOOK_CHECK(loss.requires_grad(),
               "OptimWrapper.backward: the loss does not require grad: the model's output is not "
               "connected to a trainable parameter (detached, computed under no_grad, or every "
               "parameter it uses is frozen)");
}

}  // namespace mmhook
