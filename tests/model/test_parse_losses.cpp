// BaseModel::parse_losses and train_step (docs/design.md §B3.8).

#include <gtest/gtest.h>

#include <torch/types.h>

#include "mmhook/model/base_model.h"

namespace mmhook {
namespace {

TEST(ParseLossesTest, MeansSumsLossKeysAndPutsLossFirst) {
  TensorDict losses;
  losses.set("loss_cls", torch::tensor({1.0, 3.0}));  // mean 2
  losses.set("acc", torch::tensor(0.5));              // logged, not summed
  losses.set("loss_bbox", torch::tensor({{2.0}}));    // mean 2
  at::Tensor total;
  TensorDict log_vars = BaseModel::parse_losses(losses, &total);
  EXPECT_EQ(log_vars.keys(), (std::vector<std::string>{"loss", "loss_cls", "acc", "loss_bbox"}));
  EXPECT_DOUBLE_EQ(log_vars.at("loss").item<double>(), 4.0);
  EXPECT_DOUBLE_EQ(log_vars.at("loss_cls").item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(log_vars.at("acc").item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(total.item<double>(), 4.0);
  EXPECT_FALSE(log_vars.at("loss").requires_grad());
}

TEST(ParseLossesTest, KeepsTheGraphOfTheTotal) {
  auto w = torch::tensor({2.0}, torch::requires_grad());
  TensorDict losses;
  losses.set("loss", (w * 3).sum());
  at::Tensor total;
  BaseModel::parse_losses(losses, &total);
  total.backward();
  EXPECT_DOUBLE_EQ(w.grad().item<double>(), 3.0);
}

TEST(ParseLossesTest, NoLossKeyIsAnError) {
  TensorDict losses;
  losses.set("acc", torch::tensor(0.5));
  EXPECT_THROW(BaseModel::parse_losses(losses, nullptr), Error);
}

}  // namespace
}  // namespace mmhook
