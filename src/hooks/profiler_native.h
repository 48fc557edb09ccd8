#pragma once
// LibTorch's own result of one ProfilerHook recording cycle, which ProfilerHook keeps in the
// ProfilerTrace it hands out (as a type-erased pointer, so the public header needs no profiler
// header) and ProfilerTrace::export_chrome_trace saves when the build can (Kineto builds write
// a richer trace than ours).

#include <memory>

#include <torch/csrc/autograd/profiler_kineto.h>

namespace mmhook::detail {

struct NativeProfilerResult {
  std::unique_ptr<torch::autograd::profiler::ProfilerResult> result;
};

}  // namespace mmhook::detail
