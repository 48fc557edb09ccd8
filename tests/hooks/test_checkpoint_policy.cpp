// CheckpointHook's decisions as pure functions (hooks/checkpoint_policy.h, docs/design.md
// §B4.6): retention of periodic checkpoints, MMEngine's save_best rule inference, comparison.

#include "mmhook/hooks/checkpoint_policy.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

// MMEngine's CheckpointHook.greater_keys / less_keys.
const std::vector<std::string> kGreater = {"acc", "top",   "AR@",  "auc",  "precision",
                                           "mAP", "mDice", "mIoU", "mAcc", "aAcc"};
const std::vector<std::string> kLess = {"loss"};

TEST(CheckpointPolicyTest, RetentionKeepsTheNewest) {
  std::deque<int64_t> kept;
  std::vector<int64_t> dropped;
  for (int64_t step = 1; step <= 5; ++step) {
    auto d = retention_after_save(kept, step, 3);
    dropped.insert(dropped.end(), d.begin(), d.end());
  }
  EXPECT_EQ(std::vector<int64_t>(kept.begin(), kept.end()), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(dropped, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(retention_after_save(kept, 5, 3).empty());  // re-saving the last id keeps all
}

TEST(CheckpointPolicyTest, MaxKeepOneDropsThePreviousEachTime) {
  std::deque<int64_t> kept;
  EXPECT_TRUE(retention_after_save(kept, 2, 1).empty());
  EXPECT_EQ(retention_after_save(kept, 4, 1), (std::vector<int64_t>{2}));
  EXPECT_EQ(retention_after_save(kept, 6, 1), (std::vector<int64_t>{4}));
  EXPECT_EQ(std::vector<int64_t>(kept.begin(), kept.end()), (std::vector<int64_t>{6}));
}

TEST(CheckpointPolicyTest, MaxKeepZeroOrNegativeKeepsEverything) {
  for (const int64_t max_keep : {int64_t{0}, int64_t{-1}}) {
    std::deque<int64_t> kept;
    for (int64_t s = 1; s <= 4; ++s) EXPECT_TRUE(retention_after_save(kept, s, max_keep).empty());
  }
}

TEST(CheckpointPolicyTest, RuleInferenceFollowsMMEngine) {
  EXPECT_EQ(infer_rule("acc", kGreater, kLess), "greater");
  EXPECT_EQ(infer_rule("top1_acc", kGreater, kLess), "greater");
  EXPECT_EQ(infer_rule("accuracy/top1", kGreater, kLess), "greater");
  EXPECT_EQ(infer_rule("coco/bbox_mAP", kGreater, kLess), "greater");
  EXPECT_EQ(infer_rule("MIOU", kGreater, kLess), "greater");  // case-insensitive
  EXPECT_EQ(infer_rule("loss", kGreater, kLess), "less");
  EXPECT_EQ(infer_rule("ce_loss", kGreater, kLess), "less");
  // A greater substring wins over a less substring...
  EXPECT_EQ(infer_rule("loss_of_acc", kGreater, kLess), "greater");
  // ...but an exact less key wins over any substring.
  EXPECT_EQ(infer_rule("top_loss", kGreater, {"top_loss"}), "less");
}

TEST(CheckpointPolicyTest, AnUndecidableKeyIsAnErrorNamingIt) {
  try {
    infer_rule("recall_x", kGreater, kLess);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'recall_x'"), std::string::npos) << e.what();
  }
}

TEST(CheckpointPolicyTest, BetterIsStrict) {
  EXPECT_TRUE(is_better("greater", 0.5, 0.4));
  EXPECT_FALSE(is_better("greater", 0.4, 0.4));
  EXPECT_FALSE(is_better("greater", 0.3, 0.4));
  EXPECT_TRUE(is_better("less", 0.3, 0.4));
  EXPECT_FALSE(is_better("less", 0.4, 0.4));
}

}  // namespace
}  // namespace mmhook
