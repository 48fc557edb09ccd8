#include "mmhook/hooks/check_invalid_loss_hook.h"

#include <cmath>
#include <sstream>

#include <spdlog/spdlog.h>

#include "hooks/builtin_hooks.h"
#include "mmhook/checkpoint/state_dict.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/engine/runner.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {
namespace {

// A copy of `v` that shares no tensor storage with it (the optimizer's state dict holds the
// live state tensors, which the next step updates in place).
c10::IValue deep_clone(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor().detach().clone();
  if (v.isGenericDict()) {
    const auto src = v.toGenericDict();
    c10::impl::GenericDict out(src.keyType(), src.valueType());
    for (const auto& kv : src) out.insert(kv.key(), deep_clone(kv.value()));
    return out;
  }
  if (v.isList()) {
    const auto src = v.toList();
    c10::impl::GenericList out(src.elementType());
    for (size_t i = 0; i < src.size(); ++i) out.push_back(deep_clone(src.get(i)));
    return out;
  }
  if (v.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& e : v.toTupleRef().elements()) items.push_back(deep_clone(e));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return v;  // scalars and strings are immutable
}

}  // namespace

CheckInvalidLossHook::CheckInvalidLossHook(int64_t interval, std::string on_invalid)
    : interval_(interval), on_invalid_(std::move(on_invalid)) {
  MMHOOK_CHECK(interval_ > 0, "CheckInvalidLossHook.interval must be > 0, got ", interval_);
  MMHOOK_CHECK(on_invalid_ == "stop" || on_invalid_ == "skip",
               "CheckInvalidLossHook.on_invalid must be 'stop' or 'skip', got '", on_invalid_, "'");
}

void CheckInvalidLossHook::before_train_iter(Runner& runner, int64_t, const TensorDict&) {
  model_copy_.reset();
  optim_copy_.reset();
  if (on_invalid_ != "skip" || !every_n_train_iters(runner, interval_)) return;
  model_copy_ = c10::IValue(module_state_dict(runner.model()));
  if (runner.has_optim_wrapper()) optim_copy_ = deep_clone(runner.optim_wrapper().state_dict());
}

void CheckInvalidLossHook::after_train_iter(Runner& runner, int64_t, const TensorDict&,
                                            const TensorDict& outputs) {
  if (!every_n_train_iters(runner, interval_)) return;
  const at::Tensor* loss = outputs.find("loss");
  MMHOOK_CHECK_CODE(loss != nullptr && loss->defined(), Code::kFailedPrecondition,
                    "CheckInvalidLossHook: the train step's outputs have no 'loss'");
  if (torch::isfinite(*loss).all().item<bool>()) return;
  const std::string where = "train iteration " + std::to_string(runner.iter() + 1) + " (epoch " +
                            std::to_string(runner.epoch() + 1) + ")";
  std::ostringstream value;
  value << (loss->numel() == 1 ? loss->item<double>() : std::nan(""));
  if (on_invalid_ == "stop")
    MMHOOK_THROW(Code::kFailedPrecondition, "loss became infinite or NaN at ", where,
                 ": loss = ", value.str());
  MMHOOK_CHECK_CODE(model_copy_.has_value(), Code::kInternal,
                    "CheckInvalidLossHook: no copy of the model taken before ", where);
  load_module_state_dict(runner.model(), model_copy_->toGenericDict(), /*strict=*/true, {});
  if (optim_copy_) runner.optim_wrapper().load_state_dict(*optim_copy_);
  model_copy_.reset();
  optim_copy_.reset();
  ++skipped_;
  runner.logger().warn("loss became infinite or NaN at " + where + " (loss = " + value.str() +
                       "): the step was undone (parameters, buffers and optimizer state "
                       "restored)");
}

void detail::register_check_invalid_loss_hook(Registry<Hook>& registry) {
  registry.add("CheckInvalidLossHook", [](const ConfigNode& cfg) {
    const int64_t interval = cfg.get<int64_t>("interval", 50);
    const std::string on_invalid = cfg.get<std::string>("on_invalid", "stop");
    return std::make_shared<CheckInvalidLossHook>(interval, on_invalid);
  });
}

}  // namespace mmhook
