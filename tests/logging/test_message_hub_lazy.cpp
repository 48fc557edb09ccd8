// MessageHub::update_scalar_lazy (issue 7): tensors are read only when the hub is read, and the
// histories equal what eager update_scalar(key, t.item()) gives.

#include <gtest/gtest.h>

#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/logging/message_hub.h"

namespace mmhook {
namespace {

TEST(MessageHubLazy, SameHistoryAsEager) {
  MessageHub eager("eager"), lazy("lazy");
  const std::vector<float> values = {0.5f, 1.25f, 3.1f, 2.0f};
  for (float v : values) {
    at::Tensor t = torch::tensor(v);
    eager.update_scalar("train/loss", t.item<double>());
    lazy.update_scalar_lazy("train/loss", t);
    eager.update_scalar("train/time", 0.1);
    lazy.update_scalar("train/time", 0.1);  // another key's eager update does not flush
  }
  const HistoryBuffer& a = eager.get_scalar("train/loss");
  const HistoryBuffer& b = lazy.get_scalar("train/loss");
  EXPECT_EQ(a.log_history(), b.log_history());
  EXPECT_EQ(a.count_history(), b.count_history());
  // Keys keep the order of their first update.
  std::vector<std::string> keys;
  for (const auto& kv : lazy.log_scalars()) keys.push_back(kv.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"train/loss", "train/time"}));
}

TEST(MessageHubLazy, ReadOnlyWhenHubIsRead) {
  MessageHub hub("lazy");
  at::Tensor t = torch::tensor(1.0f);
  hub.update_scalar_lazy("train/loss", t);
  // Not read yet: changing the tensor in place before the read changes what is recorded.
  t.fill_(2.0f);
  EXPECT_DOUBLE_EQ(hub.get_scalar("train/loss").current(), 2.0);
  // Read now: later changes do not affect the history.
  t.fill_(3.0f);
  EXPECT_DOUBLE_EQ(hub.get_scalar("train/loss").current(), 2.0);
  EXPECT_EQ(hub.get_scalar("train/loss").size(), 1u);
}

TEST(MessageHubLazy, EagerUpdateOfSameKeyKeepsOrder) {
  MessageHub hub("lazy");
  hub.update_scalar_lazy("x", torch::tensor(1.0));
  hub.update_scalar("x", 2.0);
  hub.update_scalar_lazy("x", torch::tensor(int64_t{3}));
  EXPECT_EQ(hub.get_scalar("x").log_history(), (std::vector<double>{1.0, 2.0, 3.0}));
}

TEST(MessageHubLazy, StateDictIncludesPendingValues) {
  MessageHub hub("lazy");
  for (int i = 0; i < 3; ++i) hub.update_scalar_lazy("train/loss", torch::tensor(0.25f * i));
  MessageHub other("other");
  other.load_state_dict(hub.state_dict());
  EXPECT_EQ(other.get_scalar("train/loss").log_history(), (std::vector<double>{0.0, 0.25, 0.5}));
}

TEST(MessageHubLazy, BoundedAndValidated) {
  MessageHub hub("lazy");
  for (int i = 0; i < 3000; ++i) hub.update_scalar_lazy("k", torch::tensor(static_cast<float>(i)));
  EXPECT_EQ(hub.get_scalar("k").size(), 3000u);
  EXPECT_DOUBLE_EQ(hub.get_scalar("k").current(), 2999.0);
  EXPECT_THROW(hub.update_scalar_lazy("k", torch::ones({2})), Error);
  EXPECT_THROW(hub.update_scalar_lazy("k", at::Tensor()), Error);
}

}  // namespace
}  // namespace mmhook
