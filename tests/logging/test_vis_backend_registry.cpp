// Visualizer backends come from a registry like every other configurable type: a backend type a
// user adds is built from `visualizer.vis_backends` and receives LoggerHook's scalars; unknown
// types and keys are config errors naming the JSON path.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"
#include "mmhook/engine/runner.h"
#include "mmhook/logging/vis_backend_registry.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

using testing::TempDir;

struct Recorded {
  std::vector<std::string> tags;
  std::string save_dir;
  std::string prefix;
  bool got_config = false;
};

class RecordingVisBackend : public VisBackend {
 public:
  RecordingVisBackend(std::shared_ptr<Recorded> out, std::string prefix) : out_(std::move(out)) {
    out_->prefix = std::move(prefix);
  }
  void add_scalars(const nlohmann::ordered_json& scalars, int64_t step) override {
    for (const auto& [key, value] : scalars.items())
      out_->tags.push_back(key + "@" + std::to_string(step));
  }
  void add_config(const std::string& text) override { out_->got_config = !text.empty(); }

 private:
  std::shared_ptr<Recorded> out_;
};

TEST(VisBackendRegistryTest, AUserBackendIsBuiltFromTheConfigAndGetsTheScalars) {
  auto recorded = std::make_shared<Recorded>();
  vis_backend_registry().add(
      "RecordingVisBackend", [recorded](const ConfigNode& cfg, const VisBackendContext& ctx) {
        recorded->save_dir = ctx.save_dir;
        return std::make_shared<RecordingVisBackend>(recorded, cfg.get<std::string>("prefix", ""));
      });
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["visualizer"] = {{"vis_backends", {{{"type", "RecordingVisBackend"}, {"prefix", "p"}}}}};
  cfg["default_hooks"]["logger"] = {{"type", "LoggerHook"}, {"interval", 1}};
  {
    Runner runner(cfg);
    EXPECT_EQ(recorded->save_dir, runner.log_dir());
    ASSERT_EQ(runner.vis_backends().size(), 1u);
    runner.train();
  }
  vis_backend_registry().remove("RecordingVisBackend");
  EXPECT_EQ(recorded->prefix, "p");
  EXPECT_TRUE(recorded->got_config);
  // 2 epochs of 4 iterations, logged every iteration, then 2 validations.
  EXPECT_NE(std::find(recorded->tags.begin(), recorded->tags.end(), "loss@8"),
            recorded->tags.end());
  EXPECT_NE(std::find(recorded->tags.begin(), recorded->tags.end(), "acc@2"), recorded->tags.end());
}

TEST(VisBackendRegistryTest, UnknownTypesAndKeysNameTheirPath) {
  TempDir dir;
  nlohmann::json cfg = testing::epoch_config(dir.path());
  cfg["visualizer"] = {
      {"vis_backends", {{{"type", "LocalVisBackend"}}, {{"type", "TensorbordVisBackend"}}}}};
  try {
    Runner runner(cfg);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "visualizer.vis_backends[1].type: unknown vis backend type 'TensorbordVisBackend' "
              "(did you mean 'TensorboardVisBackend'?)");
  }
  cfg["visualizer"] = {{"vis_backends", {{{"type", "LocalVisBackend"}, {"dir", "x"}}}}};
  try {
    Runner runner(cfg);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("visualizer.vis_backends[0].dir"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mmhook
