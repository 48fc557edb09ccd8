// ConfigNode on its own: typed reads that name the JSON path, unknown keys with a hint,
// children with indexed paths, and copies that share what was read.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfig) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(ConfigNodeTest, TypedReadsNameThePath) {
  const ConfigNode node(nlohmann::json{{"max_epochs", "ten"}, {"lr", 0.1}, {"on", nullptr}},
                        "train_cfg");
  EXPECT_EQ(node.get<double>("lr", 1.0), 0.1);
  EXPECT_EQ(node.get<int64_t>("absent", 7), 7);
  EXPECT_EQ(node.get<bool>("on", true), true);  // null reads as absent
  EXPECT_FALSE(node.get_optional<int64_t>("absent").has_value());
  EXPECT_EQ(error_of([&] { (void)node.get<int64_t>("max_epochs", 1); }),
            "train_cfg.max_epochs: expected integer, got \"ten\"");
  EXPECT_EQ(error_of([&] { (void)node.require<double>("momentum"); }).find("train_cfg.momentum"),
            0u);
  EXPECT_EQ(node.key_path("lr"), "train_cfg.lr");
  EXPECT_EQ(ConfigNode(nlohmann::json::object(), "").key_path("lr"), "lr");
}

TEST(ConfigNodeTest, UnreadKeysAreRejectedWithAHint) {
  const ConfigNode node(nlohmann::json{{"type", "SGD"}, {"lr", 0.1}, {"momentun", 0.9}},
                        "optimizer");
  (void)node.type();
  (void)node.get<double>("lr", 0.0);
  (void)node.get<double>("momentum", 0.0);
  EXPECT_EQ(error_of([&] { node.check_unused(); }),
            "optimizer.momentun: unknown key (did you mean 'momentum'?)");
  const ConfigNode copy = node;  // copies share the read keys
  copy.mark_used("momentun");
  node.check_unused();
}

TEST(ConfigNodeTest, ChildrenCarryIndexedPaths) {
  const ConfigNode root(
      nlohmann::json{{"hooks", {{{"type", "A"}}, {{"type", "B"}}}}, {"one", {{"type", "C"}}}}, "");
  const std::vector<ConfigNode> hooks = root.children("hooks");
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_EQ(hooks[1].path(), "hooks[1]");
  EXPECT_EQ(hooks[1].type(), "B");
  const std::vector<ConfigNode> one = root.children("one");  // an object is a list of one
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].path(), "one");
  EXPECT_TRUE(root.child("absent").json().empty());
  EXPECT_EQ(root.child("absent").path(), "absent");
  EXPECT_EQ(error_of([] { ConfigNode(nlohmann::json::array(), "model"); }),
            "model: expected object, got []");
}

}  // namespace
}  // namespace mmhook
