// The config comparison across ranks as pure functions; the exchange itself runs in
// test_dist.cpp (DistConfigTest) with two processes.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mmhook/dist/config_check.h"

namespace mmhook {
namespace {

using dist::FlatConfig;

TEST(ConfigCheckTest, FlattenNamesEveryLeafByItsPath) {
  const nlohmann::json cfg = {{"model", {{"type", "MLP"}, {"hidden_dims", {16, 8}}}},
                              {"hooks", nlohmann::json::array()},
                              {"env_cfg", {{"dist_cfg", nlohmann::json::object()}}},
                              {"seed", nullptr}};
  const FlatConfig expected = {{"env_cfg.dist_cfg", "{}"},     {"hooks", "[]"},
                               {"model.hidden_dims[0]", "16"}, {"model.hidden_dims[1]", "8"},
                               {"model.type", "\"MLP\""},      {"seed", "null"}};
  EXPECT_EQ(dist::flatten_config(cfg), expected);
}

TEST(ConfigCheckTest, LongValuesAreShortenedButStayDistinct) {
  const std::string a(100, 'x');
  std::string b = a;
  b[90] = 'y';
  const FlatConfig fa = dist::flatten_config({{"path", a}});
  const FlatConfig fb = dist::flatten_config({{"path", b}});
  ASSERT_EQ(fa.size(), 1u);
  EXPECT_LT(fa[0].second.size(), 80u);
  EXPECT_NE(fa[0].second, fb[0].second);
}

TEST(ConfigCheckTest, DigestIsStableAndSeesEveryChange) {
  const nlohmann::json a = {{"lr", 0.1}, {"epochs", 2}};
  EXPECT_EQ(dist::config_digest(a), dist::config_digest(nlohmann::json::parse(a.dump())));
  EXPECT_EQ(dist::config_digest(a).size(), 16u);
  EXPECT_NE(dist::config_digest(a), dist::config_digest({{"lr", 0.1}, {"epochs", 3}}));
  EXPECT_NE(dist::config_digest(a), dist::config_digest({{"lr", 0.1}, {"epochs", 2.0}}));
}

TEST(ConfigCheckTest, FirstDifferingKeyAndTheRanksOnEachSide) {
  const nlohmann::json base = {{"train_cfg", {{"max_epochs", 2}}}, {"work_dir", "w"}};
  nlohmann::json other = base;
  other["train_cfg"]["max_epochs"] = 3;
  other["work_dir"] = "v";
  const auto f0 = dist::flatten_config(base), f1 = dist::flatten_config(other);
  EXPECT_FALSE(dist::find_config_mismatch({f0, f0, f0}).has_value());
  const auto m = dist::find_config_mismatch({f0, f1, f0});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->key, "train_cfg.max_epochs");  // sorted before work_dir
  EXPECT_EQ(m->describe(), "'train_cfg.max_epochs' is 2 on ranks 0, 2 and 3 on rank 1");
}

TEST(ConfigCheckTest, AKeyMissingOnOneRankIsNamed) {
  const auto with = dist::flatten_config({{"a", 1}, {"b", {{"c", true}}}});
  const auto without = dist::flatten_config({{"a", 1}});
  const auto m = dist::find_config_mismatch({with, without});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->describe(), "'b.c' is true on rank 0 and <missing> on rank 1");
  const auto three = dist::find_config_mismatch({dist::flatten_config({{"k", 1}}),
                                                 dist::flatten_config({{"k", 2}}),
                                                 dist::flatten_config({{"k", 3}})});
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->describe(), "'k' is 1 on rank 0, 2 on rank 1 and 3 on rank 2");
}

}  // namespace
}  // namespace mmhook
