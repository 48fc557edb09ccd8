// C hooks: a function pointer and a stage mask adapted into the engine's Hook interface, so
// they are ordered and dispatched exactly like C++ hooks; and the mmh_ctx_* accessors.

#include <cstring>
#include <limits>
#include <map>

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>

#include "capi_internal.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/stage_hook.h"
#include "mmhook/core/exception_info.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/model/base_model.h"
#include "mmhook/model/torchscript_model.h"
#include "mmhook/optim/optim_wrapper.h"

struct mmh_hook_ctx {
  mmhook::Runner* runner = nullptr;
  bool active = false;
  mmh_stage_t stage = -1;
  int64_t batch_idx = -1;
  const mmhook::TensorDict* data_batch = nullptr;
  const mmhook::TensorDict* outputs = nullptr;
  const mmhook::Metrics* metrics = nullptr;
  mmhook::Checkpoint* checkpoint = nullptr;
  const std::string* error_message = nullptr;
  const std::string* hook_name = nullptr;
  std::string abort_message;
  std::map<std::string, mmh_tensor> tensors;  // borrowed handles of this call
};

namespace mmhook::capi {
namespace {

// The C enum and the engine's stage list agree value for value.
#define MMHOOK_C_STAGE_MATCHES(e, method, c_name, signature)                        \
  static_assert(static_cast<int>(MMH_STAGE_##c_name) == static_cast<int>(Stage::e), \
                "MMH_STAGE_" #c_name " differs from Stage::" #e);
MMHOOK_STAGES(MMHOOK_C_STAGE_MATCHES)
#undef MMHOOK_C_STAGE_MATCHES
static_assert(MMH_STAGE_COUNT == kNumStages, "MMH_STAGE_COUNT differs from kNumStages");

// The C priority levels are the engine's.
#define MMHOOK_C_PRIORITY_MATCHES(c_name, level)                        \
  static_assert(MMH_PRIORITY_##c_name == get_priority(Priority::level), \
                "MMH_PRIORITY_" #c_name " differs from Priority::" #level);
MMHOOK_C_PRIORITY_MATCHES(HIGHEST, kHighest)
MMHOOK_C_PRIORITY_MATCHES(VERY_HIGH, kVeryHigh)
MMHOOK_C_PRIORITY_MATCHES(HIGH, kHigh)
MMHOOK_C_PRIORITY_MATCHES(ABOVE_NORMAL, kAboveNormal)
MMHOOK_C_PRIORITY_MATCHES(NORMAL, kNormal)
MMHOOK_C_PRIORITY_MATCHES(BELOW_NORMAL, kBelowNormal)
MMHOOK_C_PRIORITY_MATCHES(LOW, kLow)
MMHOOK_C_PRIORITY_MATCHES(VERY_LOW, kVeryLow)
MMHOOK_C_PRIORITY_MATCHES(LOWEST, kLowest)
#undef MMHOOK_C_PRIORITY_MATCHES

class CHook final : public StageHook<CHook> {
 public:
  CHook(const mmh_hook_desc_t& desc, int priority)
      : type_(desc.name),
        stages_(desc.stages),
        priority_(priority),
        fn_(desc.fn),
        user_data_(desc.user_data),
        free_(desc.user_data_free) {}
  ~CHook() override {
    if (free_ != nullptr) free_(user_data_);
  }
  std::string type_name() const override { return type_; }
  StageMask triggered_stages() const override { return stages_; }
  int default_priority() const override { return priority_; }

  void on_stage(Stage s, Runner& r, const StageArgs& a) {
    ctx_.batch_idx = a.batch_idx;
    ctx_.data_batch = a.data_batch;
    ctx_.outputs = a.outputs;
    ctx_.metrics = a.metrics;
    ctx_.checkpoint = a.checkpoint;
    ctx_.error_message = a.message;
    call(r, s);
  }

 private:
  void call(Runner& r, Stage s) {
    ctx_.runner = &r;
    ctx_.stage = static_cast<mmh_stage_t>(s);
    ctx_.hook_name = &name();
    ctx_.abort_message.clear();
    ctx_.active = true;
    const mmh_hook_action_t action = fn_(&ctx_, user_data_);
    ctx_.active = false;
    ctx_.tensors.clear();
    ctx_.batch_idx = -1;
    ctx_.data_batch = ctx_.outputs = nullptr;
    ctx_.metrics = nullptr;
    ctx_.checkpoint = nullptr;
    ctx_.error_message = nullptr;
    switch (action) {
      case MMH_HOOK_CONTINUE: return;
      case MMH_HOOK_STOP:
        if (r.train_loop_built()) r.train_loop().stop_training = true;
        return;
      case MMH_HOOK_ABORT:
        MMHOOK_THROW(Code::kHookAborted, "aborted",
                     ctx_.abort_message.empty() ? std::string() : ": " + ctx_.abort_message);
      default:
        MMHOOK_THROW(Code::kInvalidArgument, "returned an unknown action code ", action,
                     " (expected MMH_HOOK_CONTINUE, MMH_HOOK_STOP or MMH_HOOK_ABORT)");
    }
  }

  std::string type_;
  StageMask stages_;
  int priority_;
  mmh_hook_fn fn_;
  void* user_data_;
  mmh_free_fn free_;
  mmh_hook_ctx ctx_;
};

}  // namespace

std::shared_ptr<Hook> make_c_hook(const mmh_hook_desc_t& desc) {
  return std::make_shared<CHook>(desc, desc.priority);
}

}  // namespace mmhook::capi

namespace {

using mmhook::capi::guard;
using mmhook::capi::make_error;
using mmhook::capi::null_argument;

/// The first check of every mmh_hook_ctx_* function: a NULL ctx, or one used outside its call.
mmh_error_t* check_ctx(const mmh_hook_ctx_t* ctx) noexcept {
  if (ctx == nullptr) return null_argument("ctx");
  if (!ctx->active)
    return make_error(MMH_E_FAILED_PRECONDITION,
                      "the hook ctx is used outside its hook call (it is valid during the call "
                      "only)");
  return nullptr;
}

#define MMH_CHECK_CTX(ctx)                                       \
  do {                                                           \
    if (mmh_error_t* ctx_err_ = check_ctx(ctx)) return ctx_err_; \
  } while (0)

#define MMH_CHECK_ARG(arg)                            \
  do {                                                \
    if ((arg) == nullptr) return null_argument(#arg); \
  } while (0)

mmh_error_t* not_utf8(const char* what) noexcept {
  return mmhook::capi::make_error_with(MMH_E_INVALID_ARGUMENT,
                                       [&] { return std::string(what) + " is not valid UTF-8"; });
}

/// An error whose message is `what`, then the stage of the call, then `why`.
mmh_error_t* stage_error(mmh_code_t code, const mmh_hook_ctx_t* ctx, const char* what,
                         const char* why = "") noexcept {
  return mmhook::capi::make_error_with(
      code, [&] { return std::string(what) + mmh_stage_name(ctx->stage) + why; });
}

/// An int64 counter of the call.
template <class F>
mmh_error_t* get_counter(const mmh_hook_ctx_t* ctx, int64_t* out, F&& value) noexcept {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  return guard([&] { *out = value(); });
}

/// The optimizer of the run and the validity of `group`: an error, or NULL.
mmh_error_t* check_group(const mmh_hook_ctx_t* ctx, size_t group) noexcept {
  try {
    if (!ctx->runner->has_optim_wrapper())
      return make_error(MMH_E_FAILED_PRECONDITION, "the runner has no optimizer");
    const size_t n = ctx->runner->optim_wrapper().num_param_groups();
    if (group >= n)
      return make_error(MMH_E_INVALID_ARGUMENT, "parameter group " + std::to_string(group) +
                                                    " is out of range (the optimizer has " +
                                                    std::to_string(n) + ")");
    return nullptr;
  } catch (...) {
    return mmhook::capi::error_from_current_exception();
  }
}

const mmhook::TensorDict* find_source(const mmh_hook_ctx_t* ctx, const std::string& key,
                                      at::Tensor* out) {
  for (const mmhook::TensorDict* d : {ctx->outputs, ctx->data_batch}) {
    if (d == nullptr) continue;
    if (const at::Tensor* t = d->find(key)) {
      *out = *t;
      return d;
    }
  }
  return nullptr;
}

/// Restores a model's training flag when a forward from a hook ends, however it ends.
class TrainingFlagGuard {
 public:
  explicit TrainingFlagGuard(mmhook::BaseModel& model) : model_(model), was_(model.is_training()) {
    model_.eval();
  }
  ~TrainingFlagGuard() {
    try {
      model_.train(was_);
    } catch (...) {  // a destructor must not throw; the flag setter does not in practice
    }
  }
  TrainingFlagGuard(const TrainingFlagGuard&) = delete;
  TrainingFlagGuard& operator=(const TrainingFlagGuard&) = delete;

 private:
  mmhook::BaseModel& model_;
  bool was_;
};

/// The device of the model's first parameter or buffer (CPU for a model without either).
c10::Device model_device(mmhook::BaseModel& model) {
  for (const at::Tensor& p : model.parameters()) return p.device();
  for (const at::Tensor& b : model.buffers()) return b.device();
  return c10::Device(c10::kCPU);
}

/// The body of mmh_hook_ctx_forward once its arguments are checked: throws on failure.
at::Tensor forward_from_hook(mmh_hook_ctx_t* ctx, const std::string& mode, const char* const* keys,
                             const mmh_tensor_t* const* inputs, size_t n,
                             const std::string& output_key) {
  const std::string where = std::string("mmh_hook_ctx_forward at ") + mmh_stage_name(ctx->stage) +
                            ", mode '" + mode + "'";
  MMHOOK_CHECK(mode == "predict" || mode == "tensor", where,
               ": the mode must be \"predict\" or \"tensor\"");
  mmhook::BaseModel& model = ctx->runner->model();
  auto* scripted = dynamic_cast<mmhook::TorchScriptModel*>(&model);
  if (mode == "tensor")
    MMHOOK_CHECK_CODE(
        scripted != nullptr && scripted->contract() == mmhook::TorchScriptContract::kDict,
        mmhook::Code::kFailedPrecondition, where, ": the model (", model.name(),
        ") has no \"tensor\" mode; it is a TorchScriptModel with the dict "
        "contract's forward(batch, mode) only");
  const c10::Device device = model_device(model);
  mmhook::TensorDict batch;
  for (size_t i = 0; i < n; ++i) {
    MMHOOK_CHECK(keys[i] != nullptr, where, ": keys[", i, "] is NULL");
    MMHOOK_CHECK(mmhook::capi::is_utf8(keys[i]), where, ": keys[", i, "] is not valid UTF-8");
    MMHOOK_CHECK(inputs[i] != nullptr, where, ": inputs[", i, "] ('", keys[i], "') is NULL");
    MMHOOK_CHECK(!batch.contains(keys[i]), where, ": the key '", keys[i], "' is given twice");
    batch.set(keys[i], inputs[i]->tensor.to(device));
  }
  mmhook::TensorDict outputs;
  try {
    const TrainingFlagGuard eval_mode(model);
    const at::NoGradGuard no_grad;
    outputs = mode == "tensor" ? scripted->forward_tensor(batch) : model.forward_predict(batch);
  } catch (...) {
    const mmhook::ExceptionInfo info = mmhook::describe_exception(std::current_exception());
    MMHOOK_THROW(info.code, where, ": ", info.message);
  }
  const at::Tensor* found = outputs.find(output_key);
  if (found == nullptr || !found->defined()) {
    std::string have;
    for (const auto& kv : outputs) have += (have.empty() ? "'" : ", '") + kv.first + "'";
    MMHOOK_THROW(mmhook::Code::kNotFound, where, ": no output '", output_key, "' (the model gave ",
                 have.empty() ? std::string("none") : have, ")");
  }
  return found->detach();
}

}  // namespace

extern "C" {

mmh_error_t* mmh_hook_ctx_get_stage(const mmh_hook_ctx_t* ctx, mmh_stage_t* out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  *out = ctx->stage;
  return nullptr;
}

mmh_error_t* mmh_hook_ctx_get_epoch(const mmh_hook_ctx_t* ctx, int64_t* out) {
  return get_counter(ctx, out, [&] { return ctx->runner->epoch(); });
}

mmh_error_t* mmh_hook_ctx_get_iter(const mmh_hook_ctx_t* ctx, int64_t* out) {
  return get_counter(ctx, out, [&] { return ctx->runner->iter(); });
}

mmh_error_t* mmh_hook_ctx_get_batch_idx(const mmh_hook_ctx_t* ctx, int64_t* out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  if (ctx->batch_idx < 0)
    return stage_error(MMH_E_NOT_FOUND, ctx, "no batch at ",
                       " (only the iteration stages have a batch_idx)");
  *out = ctx->batch_idx;
  return nullptr;
}

mmh_error_t* mmh_hook_ctx_get_max_epochs(const mmh_hook_ctx_t* ctx, int64_t* out) {
  return get_counter(ctx, out, [&] { return ctx->runner->max_epochs(); });
}

mmh_error_t* mmh_hook_ctx_get_max_iters(const mmh_hook_ctx_t* ctx, int64_t* out) {
  return get_counter(ctx, out, [&] { return ctx->runner->max_iters(); });
}

mmh_error_t* mmh_hook_ctx_get_scalar(const mmh_hook_ctx_t* ctx, const char* key, double* out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(key);
  MMH_CHECK_ARG(out);
  return guard([&] {
    mmhook::MessageHub& hub = ctx->runner->message_hub();
    if (!hub.has_scalar(key))
      MMHOOK_THROW(mmhook::Code::kNotFound, "the message hub has no scalar '", key, "'");
    *out = hub.get_scalar(key).current();
  });
}

mmh_error_t* mmh_hook_ctx_update_scalar(mmh_hook_ctx_t* ctx, const char* key, double value) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(key);
  if (!mmhook::capi::is_utf8(key)) return not_utf8("key");
  return guard([&] { ctx->runner->message_hub().update_scalar(key, value); });
}

mmh_error_t* mmh_hook_ctx_get_metric_count(const mmh_hook_ctx_t* ctx, size_t* out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  *out = ctx->metrics != nullptr ? ctx->metrics->size() : 0;
  return nullptr;
}

mmh_error_t* mmh_hook_ctx_get_metric(const mmh_hook_ctx_t* ctx, size_t i, const char** out_name,
                                     double* out_value) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out_name);
  MMH_CHECK_ARG(out_value);
  const size_t n = ctx->metrics != nullptr ? ctx->metrics->size() : 0;
  if (i >= n)
    return mmhook::capi::make_error_with(MMH_E_NOT_FOUND, [&] {
      return "metric " + std::to_string(i) + " does not exist: " + std::to_string(n) +
             " metric(s) at " + mmh_stage_name(ctx->stage);
    });
  auto it = ctx->metrics->begin() + static_cast<std::ptrdiff_t>(i);
  *out_name = it->first.c_str();
  *out_value = it->second;
  return nullptr;
}

mmh_error_t* mmh_hook_ctx_get_param_group_count(const mmh_hook_ctx_t* ctx, size_t* out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  return guard([&] {
    *out = ctx->runner->has_optim_wrapper() ? ctx->runner->optim_wrapper().num_param_groups() : 0;
  });
}

mmh_error_t* mmh_hook_ctx_get_lr(const mmh_hook_ctx_t* ctx, size_t group, double* out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  if (mmh_error_t* err = check_group(ctx, group)) return err;
  return guard([&] { *out = ctx->runner->optim_wrapper().get_group_value(group, "lr"); });
}

mmh_error_t* mmh_hook_ctx_set_lr(mmh_hook_ctx_t* ctx, size_t group, double lr) {
  MMH_CHECK_CTX(ctx);
  if (mmh_error_t* err = check_group(ctx, group)) return err;
  // Non-finite or float-overflowing rates would train to NaN (or fail later naming nothing).
  if (!(lr >= 0) || !(lr <= static_cast<double>(std::numeric_limits<float>::max())))
    return mmhook::capi::make_error_with(MMH_E_INVALID_ARGUMENT, [&] {
      return "learning rate " + std::to_string(lr) +
             " must be finite, >= 0 and within float's range";
    });
  return guard([&] { ctx->runner->optim_wrapper().set_group_value(group, "lr", lr); });
}

mmh_error_t* mmh_hook_ctx_get_tensor(const mmh_hook_ctx_t* ctx_in, const char* key,
                                     const mmh_tensor_t** out) {
  MMH_CHECK_CTX(ctx_in);
  MMH_CHECK_ARG(key);
  MMH_CHECK_ARG(out);
  auto* ctx = const_cast<mmh_hook_ctx_t*>(ctx_in);  // the handle cache is not observable state
  return guard([&] {
    auto it = ctx->tensors.find(key);
    if (it == ctx->tensors.end()) {
      at::Tensor t;
      if (find_source(ctx, key, &t) == nullptr)
        MMHOOK_THROW(mmhook::Code::kNotFound, "no tensor '", key, "' at ",
                     mmh_stage_name(ctx->stage));
      mmh_tensor handle;
      handle.tensor = t;
      handle.shape = t.sizes().vec();
      it = ctx->tensors.emplace(key, std::move(handle)).first;
    }
    *out = &it->second;
  });
}

mmh_error_t* mmh_hook_ctx_set_error(mmh_hook_ctx_t* ctx, const char* message) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(message);
  if (!mmhook::capi::is_utf8(message)) return not_utf8("message");
  return guard([&] { ctx->abort_message = message; });
}

mmh_error_t* mmh_hook_ctx_get_error_message(const mmh_hook_ctx_t* ctx, const char** out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(out);
  if (ctx->error_message == nullptr)
    return stage_error(MMH_E_NOT_FOUND, ctx, "no failure at ",
                       " (the message exists during on_exception only)");
  *out = ctx->error_message->c_str();
  return nullptr;
}

mmh_error_t* mmh_hook_ctx_put_checkpoint_state(mmh_hook_ctx_t* ctx, const char* key,
                                               const void* data, size_t len) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(key);
  if (!mmhook::capi::is_utf8(key)) return not_utf8("key");
  if (data == nullptr && len > 0)
    return mmhook::capi::make_error_with(
        MMH_E_INVALID_ARGUMENT, [&] { return "data is NULL but len is " + std::to_string(len); });
  if (ctx->stage != MMH_STAGE_BEFORE_SAVE_CHECKPOINT || ctx->checkpoint == nullptr)
    return stage_error(MMH_E_FAILED_PRECONDITION, ctx,
                       "checkpoint state can be stored at before_save_checkpoint only, not at ");
  return guard([&] {
    at::Tensor bytes = at::empty({static_cast<int64_t>(len)}, at::kByte);
    if (len > 0) std::memcpy(bytes.data_ptr<uint8_t>(), data, len);
    ctx->checkpoint->put_hook_state(*ctx->hook_name, key, bytes);
  });
}

mmh_error_t* mmh_hook_ctx_get_checkpoint_state(const mmh_hook_ctx_t* ctx, const char* key,
                                               void* buf, size_t cap, size_t* len_out) {
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(key);
  if (mmh_error_t* err = mmhook::capi::check_out_buffer(buf, cap, len_out)) return err;
  if (ctx->stage != MMH_STAGE_AFTER_LOAD_CHECKPOINT || ctx->checkpoint == nullptr)
    return stage_error(MMH_E_FAILED_PRECONDITION, ctx,
                       "checkpoint state can be read at after_load_checkpoint only, not at ");
  return guard([&] {
    auto value = ctx->checkpoint->get_hook_state(*ctx->hook_name, key);
    if (!value || !value->isTensor())
      MMHOOK_THROW(mmhook::Code::kNotFound, "the checkpoint has no state '", key, "' of hook '",
                   *ctx->hook_name, "'");
    at::Tensor bytes = value->toTensor().contiguous().to(at::kByte);
    const size_t n = static_cast<size_t>(bytes.numel());
    if (buf != nullptr) std::memcpy(buf, bytes.data_ptr<uint8_t>(), n < cap ? n : cap);
    *len_out = n;
  });
}

mmh_error_t* mmh_hook_ctx_forward(mmh_hook_ctx_t* ctx, const char* mode, const char* const* keys,
                                  const mmh_tensor_t* const* inputs, size_t n,
                                  const char* output_key, mmh_tensor_t** out) {
  MMH_CHECK_ARG(out);
  *out = nullptr;
  MMH_CHECK_CTX(ctx);
  MMH_CHECK_ARG(mode);
  MMH_CHECK_ARG(output_key);
  if (n > 0) {
    MMH_CHECK_ARG(keys);
    MMH_CHECK_ARG(inputs);
  }
  if (!mmhook::capi::is_utf8(mode)) return not_utf8("mode");
  if (!mmhook::capi::is_utf8(output_key)) return not_utf8("output_key");
  return guard([&] {
    at::Tensor result = forward_from_hook(ctx, mode, keys, inputs, n, output_key);
    auto handle = std::make_unique<mmh_tensor_t>();
    handle->shape = result.sizes().vec();
    handle->tensor = std::move(result);
    handle->owned = true;
    *out = handle.release();
  });
}

}  // extern "C"
