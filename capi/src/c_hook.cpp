// C hooks: a function pointer and a stage mask adapted into the engine's Hook interface, so
// they are ordered and dispatched exactly like C++ hooks; and the mmh_ctx_* accessors.

#include <cstring>
#include <limits>
#include <map>

#include <torch/torch.h>

#include "capi_internal.h"
#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/engine/loops.h"
#include "mmhook/logging/message_hub.h"
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

class CHook final : public Hook {
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

  void before_run(Runner& r) override { call(r, Stage::kBeforeRun); }
  void after_run(Runner& r) override { call(r, Stage::kAfterRun); }
  void before_train(Runner& r) override { call(r, Stage::kBeforeTrain); }
  void after_train(Runner& r) override { call(r, Stage::kAfterTrain); }
  void before_val(Runner& r) override { call(r, Stage::kBeforeVal); }
  void after_val(Runner& r) override { call(r, Stage::kAfterVal); }
  void before_test(Runner& r) override { call(r, Stage::kBeforeTest); }
  void after_test(Runner& r) override { call(r, Stage::kAfterTest); }
  void after_load_checkpoint(Runner& r, Checkpoint& c) override {
    ctx_.checkpoint = &c;
    call(r, Stage::kAfterLoadCheckpoint);
  }
  void before_save_checkpoint(Runner& r, Checkpoint& c) override {
    ctx_.checkpoint = &c;
    call(r, Stage::kBeforeSaveCheckpoint);
  }
  void on_exception(Runner& r, const std::string& m) override {
    ctx_.error_message = &m;
    call(r, Stage::kOnException);
  }
  void before_train_epoch(Runner& r) override { call(r, Stage::kBeforeTrainEpoch); }
  void before_val_epoch(Runner& r) override { call(r, Stage::kBeforeValEpoch); }
  void before_test_epoch(Runner& r) override { call(r, Stage::kBeforeTestEpoch); }
  void after_train_epoch(Runner& r) override { call(r, Stage::kAfterTrainEpoch); }
  void after_val_epoch(Runner& r, const Metrics& m) override {
    ctx_.metrics = &m;
    call(r, Stage::kAfterValEpoch);
  }
  void after_test_epoch(Runner& r, const Metrics& m) override {
    ctx_.metrics = &m;
    call(r, Stage::kAfterTestEpoch);
  }
  void before_train_iter(Runner& r, int64_t i, const TensorDict& b) override {
    iter(r, Stage::kBeforeTrainIter, i, b, nullptr);
  }
  void before_val_iter(Runner& r, int64_t i, const TensorDict& b) override {
    iter(r, Stage::kBeforeValIter, i, b, nullptr);
  }
  void before_test_iter(Runner& r, int64_t i, const TensorDict& b) override {
    iter(r, Stage::kBeforeTestIter, i, b, nullptr);
  }
  void after_train_iter(Runner& r, int64_t i, const TensorDict& b, const TensorDict& o) override {
    iter(r, Stage::kAfterTrainIter, i, b, &o);
  }
  void after_val_iter(Runner& r, int64_t i, const TensorDict& b, const TensorDict& o) override {
    iter(r, Stage::kAfterValIter, i, b, &o);
  }
  void after_test_iter(Runner& r, int64_t i, const TensorDict& b, const TensorDict& o) override {
    iter(r, Stage::kAfterTestIter, i, b, &o);
  }

 private:
  void iter(Runner& r, Stage s, int64_t i, const TensorDict& b, const TensorDict* o) {
    ctx_.batch_idx = i;
    ctx_.data_batch = &b;
    ctx_.outputs = o;
    call(r, s);
  }

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

bool usable(const mmh_hook_ctx_t* ctx) { return ctx != nullptr && ctx->active; }

#define MMH_CTX_CHECK(ctx)                                \
  do {                                                    \
    if ((ctx) == nullptr) return MMH_E_INVALID_ARGUMENT;  \
    if (!(ctx)->active) return MMH_E_FAILED_PRECONDITION; \
  } while (0)

// Runs body, mapping exceptions to codes (ctx accessors return codes, not error objects).
template <class F>
mmh_code_t code_guard(F&& body) noexcept {
  mmh_error_t* err = guard(body);
  if (err == nullptr) return MMH_OK;
  const mmh_code_t code = err->code;
  mmh_error_free(err);
  return code;
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

}  // namespace

extern "C" {

mmh_stage_t mmh_ctx_stage(const mmh_hook_ctx_t* ctx) { return usable(ctx) ? ctx->stage : -1; }
int64_t mmh_ctx_epoch(const mmh_hook_ctx_t* ctx) { return usable(ctx) ? ctx->runner->epoch() : -1; }
int64_t mmh_ctx_iter(const mmh_hook_ctx_t* ctx) { return usable(ctx) ? ctx->runner->iter() : -1; }
int64_t mmh_ctx_batch_idx(const mmh_hook_ctx_t* ctx) { return usable(ctx) ? ctx->batch_idx : -1; }
int64_t mmh_ctx_max_epochs(const mmh_hook_ctx_t* ctx) {
  return usable(ctx) ? ctx->runner->max_epochs() : -1;
}
int64_t mmh_ctx_max_iters(const mmh_hook_ctx_t* ctx) {
  return usable(ctx) ? ctx->runner->max_iters() : -1;
}

mmh_code_t mmh_ctx_scalar(const mmh_hook_ctx_t* ctx, const char* key, double* out) {
  MMH_CTX_CHECK(ctx);
  if (key == nullptr || out == nullptr) return MMH_E_INVALID_ARGUMENT;
  return code_guard([&] {
    mmhook::MessageHub& hub = ctx->runner->message_hub();
    if (!hub.has_scalar(key)) MMHOOK_THROW(mmhook::Code::kNotFound, "no scalar ", key);
    *out = hub.get_scalar(key).current();
  });
}

mmh_code_t mmh_ctx_update_scalar(mmh_hook_ctx_t* ctx, const char* key, double value) {
  MMH_CTX_CHECK(ctx);
  if (key == nullptr || !mmhook::capi::is_utf8(key)) return MMH_E_INVALID_ARGUMENT;
  return code_guard([&] { ctx->runner->message_hub().update_scalar(key, value); });
}

size_t mmh_ctx_metric_count(const mmh_hook_ctx_t* ctx) {
  return usable(ctx) && ctx->metrics != nullptr ? ctx->metrics->size() : 0;
}

mmh_code_t mmh_ctx_metric_at(const mmh_hook_ctx_t* ctx, size_t i, const char** out_name,
                             double* out_value) {
  MMH_CTX_CHECK(ctx);
  if (out_name == nullptr || out_value == nullptr) return MMH_E_INVALID_ARGUMENT;
  if (ctx->metrics == nullptr || i >= ctx->metrics->size()) return MMH_E_NOT_FOUND;
  auto it = ctx->metrics->begin() + static_cast<std::ptrdiff_t>(i);
  *out_name = it->first.c_str();
  *out_value = it->second;
  return MMH_OK;
}

size_t mmh_ctx_param_group_count(const mmh_hook_ctx_t* ctx) {
  if (!usable(ctx) || !ctx->runner->has_optim_wrapper()) return 0;
  return ctx->runner->optim_wrapper().num_param_groups();
}

mmh_code_t mmh_ctx_lr(const mmh_hook_ctx_t* ctx, size_t group, double* out) {
  MMH_CTX_CHECK(ctx);
  if (out == nullptr) return MMH_E_INVALID_ARGUMENT;
  if (!ctx->runner->has_optim_wrapper()) return MMH_E_FAILED_PRECONDITION;
  if (group >= ctx->runner->optim_wrapper().num_param_groups()) return MMH_E_INVALID_ARGUMENT;
  return code_guard([&] { *out = ctx->runner->optim_wrapper().get_group_value(group, "lr"); });
}

mmh_code_t mmh_ctx_set_lr(mmh_hook_ctx_t* ctx, size_t group, double lr) {
  MMH_CTX_CHECK(ctx);
  if (!ctx->runner->has_optim_wrapper()) return MMH_E_FAILED_PRECONDITION;
  // Non-finite or float-overflowing rates would train to NaN (or fail later naming nothing).
  if (group >= ctx->runner->optim_wrapper().num_param_groups() || !(lr >= 0) ||
      !(lr <= static_cast<double>(std::numeric_limits<float>::max())))
    return MMH_E_INVALID_ARGUMENT;
  return code_guard([&] { ctx->runner->optim_wrapper().set_group_value(group, "lr", lr); });
}

mmh_code_t mmh_ctx_tensor(const mmh_hook_ctx_t* ctx_in, const char* key, const mmh_tensor_t** out) {
  MMH_CTX_CHECK(ctx_in);
  if (key == nullptr || out == nullptr) return MMH_E_INVALID_ARGUMENT;
  auto* ctx = const_cast<mmh_hook_ctx_t*>(ctx_in);  // the handle cache is not observable state
  return code_guard([&] {
    auto it = ctx->tensors.find(key);
    if (it == ctx->tensors.end()) {
      at::Tensor t;
      if (find_source(ctx, key, &t) == nullptr)
        MMHOOK_THROW(mmhook::Code::kNotFound, "no tensor ", key, " at this stage");
      mmh_tensor handle;
      handle.tensor = t;
      handle.shape = t.sizes().vec();
      it = ctx->tensors.emplace(key, std::move(handle)).first;
    }
    *out = &it->second;
  });
}

mmh_code_t mmh_ctx_set_error(mmh_hook_ctx_t* ctx, const char* message) {
  MMH_CTX_CHECK(ctx);
  if (message == nullptr || !mmhook::capi::is_utf8(message)) return MMH_E_INVALID_ARGUMENT;
  return code_guard([&] { ctx->abort_message = message; });
}

mmh_code_t mmh_ctx_error_message(const mmh_hook_ctx_t* ctx, const char** out) {
  MMH_CTX_CHECK(ctx);
  if (out == nullptr) return MMH_E_INVALID_ARGUMENT;
  if (ctx->error_message == nullptr) return MMH_E_NOT_FOUND;
  *out = ctx->error_message->c_str();
  return MMH_OK;
}

mmh_code_t mmh_ctx_checkpoint_put(mmh_hook_ctx_t* ctx, const char* key, const void* data,
                                  size_t len) {
  MMH_CTX_CHECK(ctx);
  if (key == nullptr || !mmhook::capi::is_utf8(key) || (data == nullptr && len > 0))
    return MMH_E_INVALID_ARGUMENT;
  if (ctx->stage != MMH_STAGE_BEFORE_SAVE_CHECKPOINT || ctx->checkpoint == nullptr)
    return MMH_E_FAILED_PRECONDITION;
  return code_guard([&] {
    at::Tensor bytes = torch::empty({static_cast<int64_t>(len)}, torch::kUInt8);
    if (len > 0) std::memcpy(bytes.data_ptr<uint8_t>(), data, len);
    ctx->checkpoint->put_hook_state(*ctx->hook_name, key, bytes);
  });
}

mmh_code_t mmh_ctx_checkpoint_get(const mmh_hook_ctx_t* ctx, const char* key, void* buf, size_t cap,
                                  size_t* out_len) {
  MMH_CTX_CHECK(ctx);
  if (key == nullptr || out_len == nullptr || (buf == nullptr && cap > 0))
    return MMH_E_INVALID_ARGUMENT;
  if (ctx->stage != MMH_STAGE_AFTER_LOAD_CHECKPOINT || ctx->checkpoint == nullptr)
    return MMH_E_FAILED_PRECONDITION;
  return code_guard([&] {
    auto value = ctx->checkpoint->get_hook_state(*ctx->hook_name, key);
    if (!value || !value->isTensor())
      MMHOOK_THROW(mmhook::Code::kNotFound, "no checkpoint entry ", key);
    at::Tensor bytes = value->toTensor().contiguous().to(torch::kUInt8);
    const size_t n = static_cast<size_t>(bytes.numel());
    *out_len = n;
    if (buf != nullptr) std::memcpy(buf, bytes.data_ptr<uint8_t>(), n < cap ? n : cap);
  });
}

}  // extern "C"
