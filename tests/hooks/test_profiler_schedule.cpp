// ProfilerSchedule (hooks/profiler_schedule.h): torch.profiler.schedule's step actions and the
// checks on its arguments. Expected actions follow torch's schedule_fn: skip_first steps of
// NONE, then cycles of wait NONE, warmup WARMUP, active RECORD with the last RECORD_AND_SAVE,
// then NONE after `repeat` cycles (repeat 0: unlimited).

#include "mmhook/hooks/profiler_schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

using A = ProfilerSchedule::Action;

std::vector<A> actions(const ProfilerSchedule& s, int64_t steps) {
  std::vector<A> out;
  out.reserve(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) out.push_back(s.action(i));
  return out;
}

std::string error_of(const nlohmann::json& kwargs) {
  try {
    ProfilerSchedule::from_json(kwargs);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << kwargs.dump();
  return "";
}

TEST(ProfilerScheduleTest, OneCycleAfterSkipFirst) {
  const ProfilerSchedule s = ProfilerSchedule::from_json(
      {{"wait", 1}, {"warmup", 1}, {"active", 2}, {"repeat", 1}, {"skip_first", 1}});
  EXPECT_EQ(actions(s, 7), (std::vector<A>{A::kNone, A::kNone, A::kWarmup, A::kRecord,
                                           A::kRecordAndSave, A::kNone, A::kNone}));
}

TEST(ProfilerScheduleTest, TwoCyclesThenNothing) {
  const ProfilerSchedule s =
      ProfilerSchedule::from_json({{"wait", 1}, {"warmup", 0}, {"active", 1}, {"repeat", 2}});
  EXPECT_EQ(actions(s, 6), (std::vector<A>{A::kNone, A::kRecordAndSave, A::kNone, A::kRecordAndSave,
                                           A::kNone, A::kNone}));
}

TEST(ProfilerScheduleTest, RepeatZeroCyclesForever) {
  const ProfilerSchedule s =
      ProfilerSchedule::from_json({{"wait", 0}, {"warmup", 1}, {"active", 2}});
  const std::vector<A> got = actions(s, 300);
  for (size_t i = 0; i < got.size(); ++i) {
    const A want = i % 3 == 0 ? A::kWarmup : i % 3 == 1 ? A::kRecord : A::kRecordAndSave;
    ASSERT_EQ(got[i], want) << "step " << i;
  }
}

TEST(ProfilerScheduleTest, ArgumentErrorsNameTheArgument) {
  EXPECT_NE(error_of({{"wait", 1}, {"active", 1}}).find("missing the required argument 'warmup'"),
            std::string::npos);
  EXPECT_NE(error_of({{"wait", 0}, {"warmup", 0}, {"active", 1}, {"wiat", 1}})
                .find("unexpected keyword argument 'wiat'"),
            std::string::npos);
  EXPECT_NE(error_of({{"wait", 0}, {"warmup", 0}, {"active", 1.5}})
                .find("ProfilerHook.schedule.active must be an integer, got 1.5"),
            std::string::npos);
  EXPECT_NE(error_of({{"wait", 0}, {"warmup", 0}, {"active", 0}}).find("active > 0"),
            std::string::npos);
  EXPECT_NE(error_of({{"wait", -1}, {"warmup", 0}, {"active", 1}}).find("\"wait\":-1"),
            std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array({1, 2})).find("must be a dict"), std::string::npos);
}

}  // namespace
}  // namespace mmhook
