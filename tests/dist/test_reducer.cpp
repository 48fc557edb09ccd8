// The overlapped gradient reducer in one process (no process group: every all-reduce completes
// at once, so the bucket layout, the launches from autograd hooks, no_sync and the unused-
// parameter rules are seen without peers). Two processes: test_dist.cpp.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mmhook/core/error.h"
#include "mmhook/dist/reducer.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {
namespace {

using dist::Reducer;
using dist::ReducerOptions;

at::Tensor param(const std::vector<int64_t>& shape, double fill) {
  return torch::full(shape, fill, torch::kFloat).requires_grad_(true);
}

std::vector<size_t> launch_buckets(const Reducer& r) {
  std::vector<size_t> out;
  for (const auto& l : r.last_launches()) out.push_back(l.bucket);
  return out;
}

TEST(ReducerTest, BucketsFollowReverseRegistrationOrderUnderTheCap) {
  // 4 float parameters of 1 MiB, 0.5 MiB, 0.5 MiB, 3 MiB with a 1 MiB cap; a double one gets its
  // own bucket; a frozen one is left out.
  const int64_t mib = 1 << 18;  // floats per MiB
  std::vector<at::Tensor> ps{param({mib}, 0),
                             param({mib / 2}, 0),
                             param({mib / 2}, 0),
                             param({3 * mib}, 0),
                             torch::zeros({4}, torch::kDouble).requires_grad_(true),
                             torch::zeros({4})};
  Reducer r(ps, {}, ReducerOptions().bucket_cap(1));
  ASSERT_EQ(r.num_buckets(), 4u);
  EXPECT_EQ(r.bucket_params(0), (std::vector<size_t>{4}));     // the double parameter
  EXPECT_EQ(r.bucket_params(1), (std::vector<size_t>{3}));     // larger than the cap: alone
  EXPECT_EQ(r.bucket_params(2), (std::vector<size_t>{2, 1}));  // 0.5 + 0.5 MiB
  EXPECT_EQ(r.bucket_params(3), (std::vector<size_t>{0}));
  EXPECT_THROW(Reducer(ps, {}, ReducerOptions().bucket_cap(0)), Error);
  EXPECT_THROW(Reducer(ps, {"a"}, ReducerOptions()), Error);
}

TEST(ReducerTest, BucketsLaunchFromHooksInBucketOrderAndGradientsMatchPlainBackward) {
  torch::manual_seed(0);
  torch::nn::Sequential net(torch::nn::Linear(6, 5), torch::nn::Tanh(), torch::nn::Linear(5, 4),
                            torch::nn::Tanh(), torch::nn::Linear(4, 2));
  const at::Tensor x = torch::randn({3, 6});
  net->zero_grad();
  net->forward(x).pow(2).sum().backward();
  std::vector<at::Tensor> expected;
  for (const auto& p : net->parameters()) expected.push_back(p.grad().clone());
  net->zero_grad();

  // A 1-byte cap: one bucket per parameter, bucket 0 = the last bias.
  Reducer r(net->parameters(), {}, ReducerOptions().bucket_cap(1e-6));
  ASSERT_EQ(r.num_buckets(), 6u);
  r.prepare_for_backward(true);
  net->forward(x).pow(2).sum().backward();
  // Every bucket went out from autograd's hooks, before backward returned.
  ASSERT_EQ(r.last_launches().size(), 6u);
  for (const auto& l : r.last_launches()) EXPECT_TRUE(l.during_backward) << l.bucket;
  EXPECT_EQ(launch_buckets(r), (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  r.finalize_backward();
  EXPECT_EQ(r.sync_count(), 1);
  const auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(params[i].grad().equal(expected[i])) << "parameter " << i;
}

TEST(ReducerTest, ABucketReadyEarlyWaitsForTheBucketsBeforeIt) {
  // a is registered first, so b alone is bucket 0; here a's gradient arrives first, and its
  // bucket must still wait for bucket 0 so that every rank issues the same sequence.
  at::Tensor a = param({2}, 1.0), b = param({2}, 2.0);
  Reducer r({a, b}, {"a", "b"}, ReducerOptions().bucket_cap(1e-6));
  ASSERT_EQ(r.bucket_params(0), (std::vector<size_t>{1}));
  r.prepare_for_backward(true);
  // b feeds a long chain, a is added at the end: a's gradient (bucket 1) arrives first.
  at::Tensor y = b;
  for (int i = 0; i < 5; ++i) y = torch::sin(y) * 1.5;
  (y.sum() + (a * 3).sum()).backward();
  EXPECT_EQ(launch_buckets(r), (std::vector<size_t>{0, 1}));
  r.finalize_backward();
  EXPECT_TRUE(a.grad().equal(torch::full({2}, 3.0)));
}

TEST(ReducerTest, NoSyncBackwardsAccumulateAndTheSyncingOneReducesTheSum) {
  at::Tensor w = param({3}, 1.0);
  Reducer r({w}, {"w"});
  r.prepare_for_backward(false);  // accumulating: the hooks stay idle
  (w * 2).sum().backward();
  r.finalize_backward();
  EXPECT_TRUE(r.last_launches().empty());
  EXPECT_EQ(r.sync_count(), 0);
  r.prepare_for_backward(true);
  (w * 5).sum().backward();
  ASSERT_EQ(r.last_launches().size(), 1u);
  r.finalize_backward();
  EXPECT_EQ(r.sync_count(), 1);
  EXPECT_TRUE(w.grad().equal(torch::full({3}, 7.0)));  // 2 + 5, reduced once
}

TEST(ReducerTest, AParameterWithoutGradientIsAnErrorNamingIt) {
  at::Tensor used = param({2}, 1.0), idle = param({2}, 1.0);
  Reducer r({used, idle}, {"head.weight", "aux.bias"});
  r.prepare_for_backward(true);
  (used * 2).sum().backward();
  try {
    r.finalize_backward();
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("parameter 'aux.bias' received no gradient"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("head.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("find_unused_parameters=true"), std::string::npos) << msg;
  }
  // The next backward starts clean.
  r.prepare_for_backward(true);
  (used * 2 + idle).sum().backward();
  r.finalize_backward();
  EXPECT_TRUE(idle.grad().equal(torch::ones({2})));
}

TEST(ReducerTest, FindUnusedParametersReducesZerosAndLaunchesTheirBucketAtTheEnd) {
  at::Tensor idle = param({2}, 1.0), used = param({2}, 1.0);
  Reducer r({idle, used}, {"idle", "used"}, ReducerOptions().bucket_cap(1e-6).find_unused(true));
  r.prepare_for_backward(true);
  (used * 4).sum().backward();
  ASSERT_EQ(r.last_launches().size(), 1u);  // bucket 0 ("used") only
  r.finalize_backward();
  ASSERT_EQ(r.last_launches().size(), 2u);
  EXPECT_EQ(r.last_launches()[1].bucket, 1u);
  EXPECT_FALSE(r.last_launches()[1].during_backward);
  ASSERT_TRUE(idle.grad().defined());
  EXPECT_TRUE(idle.grad().equal(torch::zeros({2})));
  EXPECT_TRUE(used.grad().equal(torch::full({2}, 4.0)));
}

TEST(ReducerTest, TwoGradientsForOneParameterInOneBackwardAreAnError) {
  at::Tensor w = param({2}, 1.0);
  Reducer r({w}, {"w"});
  r.prepare_for_backward(true);
  at::Tensor loss = (w * 2).sum();
  loss.backward({}, /*retain_graph=*/true);
  try {
    loss.backward();
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 'w' received a gradient twice"),
              std::string::npos)
        << e.what();
  }
}

TEST(ReducerTest, OptimWrapperArmsItOnlyOnUpdatingBackwards) {
  // acc 2: backwards 1 and 3 accumulate (no_sync), 2 and 4 update. The callbacks see the flag
  // before and after each backward, and the reducer launches only on the updating ones.
  at::Tensor w = param({2}, 1.0);
  auto sgd = std::make_shared<torch::optim::SGD>(std::vector<at::Tensor>{w},
                                                 torch::optim::SGDOptions(0.5));
  OptimWrapper ow(sgd, "SGD", /*accumulative_counts=*/2);
  auto reducer =
      std::make_shared<Reducer>(std::vector<at::Tensor>{w}, std::vector<std::string>{"w"});
  std::vector<std::string> calls;
  ow.set_grad_sync(GradSyncCallbacks{[&](bool sync) {
                                       calls.push_back(sync ? "before:sync" : "before:no_sync");
                                       reducer->prepare_for_backward(sync);
                                     },
                                     [&](bool sync) {
                                       calls.push_back(sync ? "after:sync" : "after:no_sync");
                                       reducer->finalize_backward();
                                     }});
  ASSERT_TRUE(ow.has_grad_sync());
  std::vector<int64_t> syncs;
  for (int i = 0; i < 4; ++i) {
    ow.update_params((w * static_cast<double>(i + 1)).sum());
    syncs.push_back(reducer->sync_count());
  }
  EXPECT_EQ(calls, (std::vector<std::string>{"before:no_sync", "after:no_sync", "before:sync",
                                             "after:sync", "before:no_sync", "after:no_sync",
                                             "before:sync", "after:sync"}));
  EXPECT_EQ(syncs, (std::vector<int64_t>{0, 1, 1, 2}));
  // Gradients (1+2)/2 then (3+4)/2 per element: w = 1 - 0.5 * 1.5 - 0.5 * 3.5.
  EXPECT_TRUE(w.allclose(torch::full({2}, 1.0 - 0.75 - 1.75)));
  // A plain function runs after the updating backwards only.
  int plain = 0;
  ow.set_grad_sync([&] { ++plain; });
  for (int i = 0; i < 4; ++i) ow.update_params(w.sum());
  EXPECT_EQ(plain, 2);
}

}  // namespace
}  // namespace mmhook
