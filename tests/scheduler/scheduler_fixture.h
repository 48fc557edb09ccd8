#pragma once
// Shared by the scheduler tests: MMEngine's test optimiser, SGD with two groups (lr 0.05 and
// 0.5, momentum 0.01), wrapped so the wrapper adds its base group (index 2, lr 0.05).
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {
namespace testing_sched {

struct Fixture {
  at::Tensor w1 = torch::zeros({2}, torch::requires_grad());
  at::Tensor w2 = torch::zeros({2}, torch::requires_grad());
  std::shared_ptr<torch::optim::SGD> sgd;
  std::unique_ptr<OptimWrapper> wrapper;
  Fixture() {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(
        std::vector<at::Tensor>{w1},
        std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.05).momentum(0.01)));
    groups.emplace_back(
        std::vector<at::Tensor>{w2},
        std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.5).momentum(0.01)));
    sgd =
        std::make_shared<torch::optim::SGD>(groups, torch::optim::SGDOptions(0.05).momentum(0.01));
    wrapper = std::make_unique<OptimWrapper>(sgd, "SGD");
  }
  OptimWrapper& w() { return *wrapper; }
  double lr(size_t g = 0) { return wrapper->get_group_value(g, "lr"); }
};

inline std::vector<double> rep(double v, int n) { return std::vector<double>(n, v); }

inline std::vector<double> cat(std::vector<std::vector<double>> parts) {
  std::vector<double> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace testing_sched
}  // namespace mmhook
