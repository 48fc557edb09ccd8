#include "mmhook/dist/reducer.h"

#include <map>
#include <sstream>
#include <utility>

#include <ATen/core/grad_mode.h>
#include <ATen/ops/add.h>
#include <ATen/ops/zeros.h>

#include "mmhook/core/error.h"

namespace mmhook {
namespace dist {

Reducer::Reducer(std::vector<at::Tensor> params, std::vector<std::string> names,
                 ReducerOptions options)
    : params_(std::move(params)), names_(std::move(names)), options_(options) {
  MMHOOK_CHECK(options_.bucket_cap_mb > 0, "env_cfg.dist_cfg.bucket_cap_mb must be > 0, got ",
               options_.bucket_cap_mb);
  MMHOOK_CHECK(names_.empty() || names_.size() == params_.size(), "Reducer: ", names_.size(),
               " names for ", params_.size(), " parameters");
  for (size_t i = 0; i < params_.size(); ++i)
    MMHOOK_CHECK(params_[i].defined() && params_[i].layout() == at::kStrided,
                 "Reducer: ", param_name(i), " is not a dense tensor");
  const auto cap = static_cast<int64_t>(options_.bucket_cap_mb * 1024 * 1024);
  // Reverse registration order: backward produces the last layers' gradients first. One open
  // bucket per dtype and device; a bucket that would pass the cap is closed (a parameter
  // larger than the cap gets a bucket of its own).
  std::map<std::pair<at::ScalarType, std::string>, size_t> open;
  std::vector<int64_t> bytes_in;
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    if (!p.requires_grad()) continue;
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const auto key = std::make_pair(p.scalar_type(), p.device().str());
    auto it = open.find(key);
    if (it == open.end() || (bytes_in[it->second] > 0 && bytes_in[it->second] + bytes > cap)) {
      buckets_.emplace_back();
      bytes_in.push_back(0);
      it = open.insert_or_assign(key, buckets_.size() - 1).first;
    }
    Bucket& b = buckets_[it->second];
    Slot s;
    s.param = k;
    s.bucket = it->second;
    s.offset = bytes_in[it->second] / static_cast<int64_t>(p.element_size());
    b.slots.push_back(slots_.size());
    slots_.push_back(s);
    bytes_in[it->second] += bytes;
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const at::Tensor& first = params_[slots_[buckets_[b].slots.front()].param];
    buckets_[b].flat = at::zeros({bytes_in[b] / static_cast<int64_t>(first.element_size())},
                                 first.options().requires_grad(false));
  }
  ready_.assign(slots_.size(), 0);
  for (size_t s = 0; s < slots_.size(); ++s)
    slots_[s].hook = params_[slots_[s].param].register_hook(
        [this, s](const at::Tensor& grad) { on_gradient(s, grad); });
}

Reducer::~Reducer() {
  for (auto& b : buckets_) {
    try {
      b.work.wait();
    } catch (...) {
      // The run is failing already; its error is the one to report.
    }
  }
  for (const Slot& s : slots_) params_[s.param].remove_hook(s.hook);
}

std::string Reducer::param_name(size_t param) const {
  if (names_.empty()) return "parameter " + std::to_string(param);
  return "parameter '" + names_[param] + "'";
}

std::vector<size_t> Reducer::bucket_params(size_t b) const {
  MMHOOK_CHECK(b < buckets_.size(), "Reducer::bucket_params: bucket ", b, " of ", buckets_.size());
  std::vector<size_t> out;
  for (size_t s : buckets_[b].slots) out.push_back(slots_[s].param);
  return out;
}

void Reducer::wait_all() {
  for (auto& b : buckets_) b.work.wait();
}

void Reducer::prepare_for_backward(bool sync) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Buckets still in flight belong to a backward that failed half-way: their tensors are in
  // use until they complete.
  wait_all();
  armed_ = sync;
  if (!sync) return;
  std::fill(ready_.begin(), ready_.end(), 0);
  for (auto& b : buckets_) b.remaining = b.slots.size();
  launches_.clear();
  next_launch_ = 0;
}

void Reducer::on_gradient(size_t slot, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;
  MMHOOK_CHECK_CODE(!ready_[slot], Code::kFailedPrecondition,
                    "data parallel: ", param_name(slots_[slot].param),
                    " received a gradient twice in one synchronising backward (a graph "
                    "backpropagated twice before the optimizer step?)");
  mark_ready(slot, grad);
  launch_ready_buckets(true);
}

// Copies what the parameter's gradient will be once autograd has accumulated `grad` into it.
void Reducer::mark_ready(size_t slot, const at::Tensor& grad) {
  at::NoGradGuard no_grad;
  const Slot& s = slots_[slot];
  const at::Tensor& p = params_[s.param];
  Bucket& b = buckets_[s.bucket];
  at::Tensor view = b.flat.narrow(0, s.offset, p.numel());
  const at::Tensor& held = p.grad();
  if (grad.defined() && held.defined()) {
    at::add_out(view, grad.reshape({-1}), held.reshape({-1}));  // one pass, not copy then add
  } else if (grad.defined()) {
    view.copy_(grad.reshape({-1}));
  } else if (held.defined()) {
    view.copy_(held.reshape({-1}));
  } else {
    view.zero_();
  }
  ready_[slot] = 1;
  --b.remaining;
}

void Reducer::launch_ready_buckets(bool during_backward) {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].remaining == 0) {
    Bucket& b = buckets_[next_launch_];
    b.work = all_reduce_async(b.flat);
    launches_.push_back(Launch{next_launch_, during_backward});
    ++next_launch_;
  }
}

void Reducer::finalize_backward() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;
  armed_ = false;
  std::vector<size_t> unused;
  for (size_t s = 0; s < slots_.size(); ++s)
    if (!ready_[s]) unused.push_back(s);
  if (!unused.empty() && !options_.find_unused_parameters) {
    std::ostringstream names;
    for (size_t i = 0; i < unused.size() && i < 5; ++i)
      names << (i ? ", " : "") << param_name(slots_[unused[i]].param);
    if (unused.size() > 5) names << " and " << unused.size() - 5 << " more";
    const std::string what =
        unused.size() == 1
            ? names.str() + " received no gradient in this backward"
            : std::to_string(unused.size()) +
                  " parameters received no gradient in this backward: " + names.str();
    MMHOOK_THROW(Code::kFailedPrecondition, "data parallel (rank ", get_rank(), "): ", what,
                 ". Every rank must reduce every parameter; if some parameters are not used "
                 "in some iterations, set env_cfg.dist_cfg.find_unused_parameters=true, or "
                 "freeze those that are never used (requires_grad=false)");
  }
  for (size_t s : unused) mark_ready(s, at::Tensor());
  launch_ready_buckets(false);
  wait_all();
  at::NoGradGuard no_grad;
  const int world = get_world_size();
  for (auto& b : buckets_) {
    if (world > 1) b.flat.div_(world);
    for (size_t si : b.slots) {
      const Slot& s = slots_[si];
      at::Tensor& p = params_[s.param];
      at::Tensor avg = b.flat.narrow(0, s.offset, p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(avg);
      else
        p.mutable_grad() = avg.clone();
    }
  }
  ++sync_count_;
}

}  // namespace dist
}  // namespace mmhook
