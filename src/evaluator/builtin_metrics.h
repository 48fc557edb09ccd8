#pragma once
// The registration functions of the built-in metrics. Each is defined in its metric's own source
// file and adds that metric's factory (the options read from JSON) to the metric registry;
// `metric_registry()` (metric.cpp) calls them all. A list of calls rather than static
// initialisers, for the reason src/hooks/builtin_hooks.h gives: the linker leaves out of a
// program the object files of the static mmhook_engine that nothing references.

#include "mmhook/config/registry.h"
#include "mmhook/evaluator/metric.h"

namespace mmhook::detail {

void register_accuracy(Registry<BaseMetric>& registry);
void register_loss_metric(Registry<BaseMetric>& registry);
void register_mean_absolute_error(Registry<BaseMetric>& registry);
void register_mean_squared_error(Registry<BaseMetric>& registry);
void register_toy_metric(Registry<BaseMetric>& registry);

}  // namespace mmhook::detail
