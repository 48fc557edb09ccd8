#pragma once
/// @file
/// `Metrics`: what an evaluator returns and what `after_val_epoch` / `after_test_epoch` hooks
/// receive.

#include "mmhook/core/ordered_map.h"

namespace mmhook {

/// Metrics returned by an evaluator: name → value, in the order the metrics produced them.
using Metrics = OrderedMap<double>;

}  // namespace mmhook
