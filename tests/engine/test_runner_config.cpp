// parse_runner_config on its own: the config read once into typed fields, sub-configs with
// their JSON paths, MMEngine's defaults filled in, every error naming its path, and nothing
// touched outside the returned value.

#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"
#include "mmhook/engine/runner_config.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

nlohmann::json minimal(const std::string& work_dir) {
  return {{"work_dir", work_dir}, {"model", {{"type", "ToyModel"}}}};
}

std::string parse_error(const nlohmann::json& cfg) {
  try {
    (void)parse_runner_config(cfg, "");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << cfg.dump();
  return "";
}

std::vector<std::string> paths(const std::vector<ConfigNode>& nodes) {
  std::vector<std::string> out;
  out.reserve(nodes.size());
  for (const auto& n : nodes) out.push_back(n.path() + "=" + n.json().value("type", ""));
  return out;
}

std::vector<std::string> paths(const std::vector<ConfigValue>& entries) {
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(e.path + "=" + e.value.value("type", ""));
  return out;
}

TEST(RunnerConfigTest, DefaultsAreMMEnginesAndNothingIsWritten) {
  TempDir dir;
  const std::string work_dir = dir / "run/";
  const RunnerConfig c = parse_runner_config(minimal(work_dir), "");
  EXPECT_EQ(c.work_dir, dir / "run");  // absolute, no trailing '/'
  EXPECT_FALSE(fs::exists(c.work_dir));
  EXPECT_EQ(c.launcher, "none");
  EXPECT_EQ(c.log_level, "INFO");
  EXPECT_FALSE(c.resume);
  EXPECT_TRUE(c.load_from.empty());
  EXPECT_FALSE(c.seed.has_value());
  EXPECT_FALSE(c.auto_scale_lr_base_batch_size.has_value());
  EXPECT_EQ(c.dist.backend, "gloo");
  EXPECT_TRUE(c.overlap_grad_sync);
  EXPECT_EQ(c.grad_sync.bucket_cap_mb, 25.0);
  EXPECT_FALSE(c.grad_sync.find_unused_parameters);
  EXPECT_EQ(c.model->path(), "model");
  EXPECT_FALSE(c.optim_wrapper || c.train_loop || c.val.configured() || c.test.configured());
  EXPECT_EQ(paths(c.hooks),
            (std::vector<std::string>{
                "default_hooks.runtime_info=RuntimeInfoHook", "default_hooks.timer=IterTimerHook",
                "default_hooks.sampler_seed=DistSamplerSeedHook", "default_hooks.logger=LoggerHook",
                "default_hooks.param_scheduler=ParamSchedulerHook",
                "default_hooks.checkpoint=CheckpointHook"}));
  EXPECT_EQ(c.hooks.back().value.at("interval"), 1);
  EXPECT_EQ(paths(c.vis_backends),
            (std::vector<std::string>{"visualizer.vis_backends[0]=LocalVisBackend"}));
  EXPECT_EQ(c.raw, minimal(work_dir));
}

TEST(RunnerConfigTest, DistCfgGradientKeysAreRead) {
  TempDir dir;
  nlohmann::json cfg = minimal(dir / "run");
  cfg["env_cfg"] = {
      {"dist_cfg", {{"overlap", false}, {"bucket_cap_mb", 4.5}, {"find_unused_parameters", true}}}};
  const RunnerConfig c = parse_runner_config(cfg, "");
  EXPECT_FALSE(c.overlap_grad_sync);
  EXPECT_EQ(c.grad_sync.bucket_cap_mb, 4.5);
  EXPECT_TRUE(c.grad_sync.find_unused_parameters);
}

TEST(RunnerConfigTest, DefaultHooksAreReplacedRemovedAndAddedThenCustomHooksFollow) {
  TempDir dir;
  nlohmann::json cfg = minimal(dir.path());
  cfg["default_hooks"] = {{"checkpoint", {{"type", "CheckpointHook"}, {"interval", 5}}},
                          {"logger", nullptr},
                          {"zz_extra", {{"type", "EmptyCacheHook"}}}};
  cfg["custom_hooks"] = {{{"type", "EMAHook"}}, {{"type", "EmptyCacheHook"}}};
  const RunnerConfig c = parse_runner_config(cfg, "");
  EXPECT_EQ(paths(c.hooks), (std::vector<std::string>{
                                "default_hooks.runtime_info=RuntimeInfoHook",
                                "default_hooks.timer=IterTimerHook",
                                "default_hooks.sampler_seed=DistSamplerSeedHook",
                                "default_hooks.param_scheduler=ParamSchedulerHook",
                                "default_hooks.checkpoint=CheckpointHook",
                                "default_hooks.zz_extra=EmptyCacheHook",
                                "custom_hooks[0]=EMAHook",
                                "custom_hooks[1]=EmptyCacheHook",
                            }));
  EXPECT_EQ(c.hooks[4].value.at("interval"), 5);
  cfg["default_hooks"] = {{"timer", 3}};
  EXPECT_EQ(parse_error(cfg), "default_hooks.timer: expected object or null, got integer");
}

TEST(RunnerConfigTest, LoopsGetTheirTypeFromByEpochOrTheirRole) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  RunnerConfig c = parse_runner_config(cfg, "");
  EXPECT_EQ(c.train_loop->json().at("type"), "EpochBasedTrainLoop");
  EXPECT_EQ(c.train_loop->path(), "train_cfg");
  EXPECT_FALSE(c.train_loop->json().contains("by_epoch"));
  EXPECT_EQ(c.val.loop->json().at("type"), "ValLoop");
  EXPECT_EQ(c.test.loop->json().at("type"), "TestLoop");
  EXPECT_EQ(c.val.dataloader->path(), "val_dataloader");
  EXPECT_EQ(c.test.evaluator->path, "test_evaluator");
  cfg["train_cfg"]["by_epoch"] = false;
  c = parse_runner_config(cfg, "");
  EXPECT_EQ(c.train_loop->json().at("type"), "IterBasedTrainLoop");
  cfg["train_cfg"]["by_epoch"] = "yes";
  EXPECT_EQ(parse_error(cfg), "train_cfg.by_epoch: expected boolean, got \"yes\"");
  cfg["train_cfg"] = {{"type", "MyLoop"}, {"by_epoch", "kept for MyLoop"}};
  c = parse_runner_config(cfg, "");
  EXPECT_EQ(c.train_loop->json().at("by_epoch"), "kept for MyLoop");
}

TEST(RunnerConfigTest, EveryErrorNamesItsPath) {
  TempDir dir;
  auto with = [&](const std::string& key, nlohmann::json value) {
    nlohmann::json cfg = minimal(dir.path());
    cfg[key] = std::move(value);
    return cfg;
  };
  EXPECT_EQ(parse_error(with("modle", 1)), "modle: unknown key (did you mean 'model'?)");
  EXPECT_EQ(parse_error(with("log_level", "LOUD")),
            "log_level: must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'");
  EXPECT_NE(parse_error(with("auto_scale_lr", {{"enable", true}}))
                .find("auto_scale_lr.base_batch_size: is required (a positive integer)"),
            std::string::npos);
  EXPECT_NE(parse_error(with("env_cfg", {{"dist_cfg", {{"timeout", 0}}}}))
                .find("env_cfg.dist_cfg.timeout: must be > 0 seconds"),
            std::string::npos);
  EXPECT_NE(parse_error(with("env_cfg", {{"dist_cfg", {{"bucket_cap_mb", 0}}}}))
                .find("env_cfg.dist_cfg.bucket_cap_mb: must be > 0 MiB"),
            std::string::npos);
  EXPECT_NE(parse_error(with("env_cfg", {{"dist_cfg", {{"overlap", "yes"}}}}))
                .find("env_cfg.dist_cfg.overlap"),
            std::string::npos);
  EXPECT_NE(parse_error(with("env_cfg", {{"dist_cfg", {{"find_unused_parameter", true}}}}))
                .find("did you mean 'find_unused_parameters'"),
            std::string::npos);
  EXPECT_NE(parse_error(with("randomness", {{"seed", "zero"}})).find("randomness.seed"),
            std::string::npos);
  EXPECT_EQ(parse_error(with("custom_hooks", {{"type", "EMAHook"}})),
            "custom_hooks: expected list, got object");
  nlohmann::json no_model = minimal(dir.path());
  no_model.erase("model");
  EXPECT_EQ(parse_error(no_model), "model: required key is missing");
  EXPECT_EQ(parse_error(nlohmann::json::array()), "config must be a JSON object, got an array");
}

TEST(RunnerConfigTest, AutoScaleLrIsReadOnlyWhenEnabled) {
  TempDir dir;
  nlohmann::json cfg = minimal(dir.path());
  cfg["auto_scale_lr"] = {{"enable", false}, {"base_batch_size", 16}};
  EXPECT_FALSE(parse_runner_config(cfg, "").auto_scale_lr_base_batch_size.has_value());
  cfg["auto_scale_lr"]["enable"] = true;
  EXPECT_EQ(parse_runner_config(cfg, "").auto_scale_lr_base_batch_size, 16);
}

}  // namespace
}  // namespace mmhook
