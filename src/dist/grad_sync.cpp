#include "mmhook/dist/grad_sync.h"

#include <map>

#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <torch/nn/module.h>

#include "mmhook/core/error.h"
#include "mmhook/dist/dist.h"

namespace mmhook {
namespace dist {

GradientSync::GradientSync(std::vector<at::Tensor> params, int64_t bucket_cap_bytes)
    : params_(std::move(params)) {
  MMHOOK_CHECK(bucket_cap_bytes > 0, "GradientSync: bucket_cap_bytes must be > 0, got ",
               bucket_cap_bytes);
  // One open bucket per dtype, filled in parameter order; a full bucket is closed.
  std::map<at::ScalarType, size_t> open;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i];
    MMHOOK_CHECK(p.defined() && p.layout() == at::kStrided, "GradientSync: parameter ", i,
                 " is not a dense tensor");
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    auto it = open.find(p.scalar_type());
    if (it == open.end() || sizes[it->second] + bytes > bucket_cap_bytes) {
      buckets_.push_back(Bucket{});
      sizes.push_back(0);
      open[p.scalar_type()] = buckets_.size() - 1;
      it = open.find(p.scalar_type());
    }
    buckets_[it->second].params.push_back(i);
    sizes[it->second] += bytes;
  }
  for (auto& b : buckets_) {
    int64_t numel = 0;
    for (size_t i : b.params) numel += params_[i].numel();
    b.flat = at::empty({numel}, params_[b.params.front()].options().requires_grad(false));
  }
}

void GradientSync::sync() {
  const int world = get_world_size();
  if (world <= 1 || buckets_.empty()) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flats;
  flats.reserve(buckets_.size());
  for (auto& b : buckets_) {
    int64_t off = 0;
    for (size_t i : b.params) {
      at::Tensor& p = params_[i];
      const int64_t n = p.numel();
      at::Tensor slot = b.flat.narrow(0, off, n);
      if (p.grad().defined())
        slot.copy_(p.grad().reshape({-1}));
      else
        slot.zero_();
      off += n;
    }
    flats.push_back(b.flat);
  }
  all_reduce_many(flats);
  for (auto& b : buckets_) {
    b.flat.div_(world);
    int64_t off = 0;
    for (size_t i : b.params) {
      at::Tensor& p = params_[i];
      const int64_t n = p.numel();
      at::Tensor avg = b.flat.narrow(0, off, n).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(avg);
      else
        p.mutable_grad() = avg.clone();
      off += n;
    }
  }
  ++sync_count_;
}

void broadcast_module_states(torch::nn::Module& module, int src) {
  if (get_world_size() <= 1) return;
  at::NoGradGuard no_grad;
  for (auto& p : module.parameters()) broadcast(p, src);
  for (auto& b : module.buffers()) broadcast(b, src);
}

int64_t sync_module_buffers(torch::nn::Module& module) {
  if (get_world_size() <= 1) return 0;
  at::NoGradGuard no_grad;
  int64_t n = 0;
  for (auto& b : module.buffers()) {
    if (b.is_floating_point())
      all_reduce(b, ReduceOp::kMean);
    else
      broadcast(b, 0);
    ++n;
  }
  return n;
}

}  // namespace dist
}  // namespace mmhook
