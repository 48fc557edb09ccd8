#pragma once
/// @file
/// `StageHook`: a hook that handles every stage in one method, `on_stage(stage, runner, args)`,
/// for adapters that route stages elsewhere (ClosureHook's callbacks, the C ABI's function
/// pointers). Its 23 stage methods are written once, from `MMHOOK_STAGES`.

#include <cstdint>
#include <string>

#include "mmhook/engine/dispatcher.h"
#include "mmhook/engine/hook.h"

namespace mmhook {

namespace detail {
inline StageArgs stage_args() { return {}; }
inline StageArgs stage_args(Checkpoint &checkpoint) {
  StageArgs a;
  a.checkpoint = &checkpoint;
  return a;
}
inline StageArgs stage_args(const std::string &message) {
  StageArgs a;
  a.message = &message;
  return a;
}
inline StageArgs stage_args(const Metrics &metrics) {
  StageArgs a;
  a.metrics = &metrics;
  return a;
}
inline StageArgs stage_args(int64_t batch_idx, const TensorDict &data_batch,
                            const TensorDict *outputs = nullptr) {
  StageArgs a;
  a.batch_idx = batch_idx;
  a.data_batch = &data_batch;
  a.outputs = outputs;
  return a;
}
}  // namespace detail

// A stage method's parameters and the StageArgs made of them, by signature (see MMHOOK_STAGES).
#define MMHOOK_STAGE_PARAMS_RUN Runner &r
#define MMHOOK_STAGE_ARGS_RUN detail::stage_args()
#define MMHOOK_STAGE_PARAMS_CKPT Runner &r, Checkpoint &checkpoint
#define MMHOOK_STAGE_ARGS_CKPT detail::stage_args(checkpoint)
#define MMHOOK_STAGE_PARAMS_EXC Runner &r, const std::string &message
#define MMHOOK_STAGE_ARGS_EXC detail::stage_args(message)
#define MMHOOK_STAGE_PARAMS_METRICS Runner &r, const Metrics &metrics
#define MMHOOK_STAGE_ARGS_METRICS detail::stage_args(metrics)
#define MMHOOK_STAGE_PARAMS_BITER Runner &r, int64_t batch_idx, const TensorDict &data_batch
#define MMHOOK_STAGE_ARGS_BITER detail::stage_args(batch_idx, data_batch)
#define MMHOOK_STAGE_PARAMS_AITER \
  Runner &r, int64_t batch_idx, const TensorDict &data_batch, const TensorDict &outputs
#define MMHOOK_STAGE_ARGS_AITER detail::stage_args(batch_idx, data_batch, &outputs)

/// A hook whose every stage method forwards to `Derived::on_stage(Stage, Runner&, const
/// StageArgs&)`, where `args` holds what the stage passes (batch, outputs, metrics, ...). The
/// call is direct (no second virtual call per stage). Say which stages it handles with
/// `triggered_stages()` (the Dispatcher calls it at no other).
template <class Derived>
class StageHook : public Hook {
 public:
#define MMHOOK_STAGE_FORWARD(e, method, c_name, signature)                              \
  /** Forwards to on_stage. */                                                          \
  void method(MMHOOK_STAGE_PARAMS_##signature) final {                                  \
    static_cast<Derived *>(this)->on_stage(Stage::e, r, MMHOOK_STAGE_ARGS_##signature); \
  }
  MMHOOK_STAGES(MMHOOK_STAGE_FORWARD)
#undef MMHOOK_STAGE_FORWARD
};

}  // namespace mmhook
