// BackgroundWriter (hooks/background_writer.h): one job at a time on one thread, the first
// error kept and rethrown once by wait()/check().

#include "mmhook/hooks/background_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mmhook/core/error.h"

namespace mmhook {
namespace {

TEST(BackgroundWriterTest, JobsRunOneAtATimeInSubmissionOrderOffTheCallersThread) {
  std::vector<int> order;  // written by the writer's thread only, one job at a time
  std::atomic<int> running{0};
  std::atomic<int> overlap{0};
  std::thread::id job_thread;
  {
    BackgroundWriter w;
    for (int i = 0; i < 5; ++i) {
      w.submit([&, i] {
        if (running.fetch_add(1) != 0) overlap.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        order.push_back(i);
        job_thread = std::this_thread::get_id();
        running.fetch_sub(1);
      });
    }
    w.wait();
    EXPECT_FALSE(w.busy());
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(overlap.load(), 0);
  EXPECT_NE(job_thread, std::this_thread::get_id());
}

TEST(BackgroundWriterTest, BusyWhileAJobRunsAndSubmitWaitsForIt) {
  BackgroundWriter w;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<bool> first_done{false};
  w.submit([gate, &first_done] {
    gate.wait();
    first_done = true;
  });
  EXPECT_TRUE(w.busy());
  std::thread releaser([&release] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    release.set_value();
  });
  bool first_done_when_second_started = false;
  w.submit([&] { first_done_when_second_started = first_done.load(); });
  w.wait();
  releaser.join();
  EXPECT_TRUE(first_done_when_second_started);
  EXPECT_FALSE(w.busy());
}

TEST(BackgroundWriterTest, TheFirstErrorIsRethrownOnceAndLaterJobsStillRun) {
  BackgroundWriter w;
  w.submit([] { MMHOOK_THROW(Code::kIo, "cannot write 'epoch_1.pth': No space left on device"); });
  try {
    w.wait();
    ADD_FAILURE() << "wait() did not rethrow the job's error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    EXPECT_NE(std::string(e.what()).find("epoch_1.pth"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(w.wait());  // reported once
  bool ran = false;
  w.submit([&ran] { ran = true; });
  w.wait();
  EXPECT_TRUE(ran);
}

TEST(BackgroundWriterTest, CheckRethrowsAFinishedFailureAndSubmitReportsItBeforeTheNextJob) {
  BackgroundWriter w;
  w.submit([] { throw std::runtime_error("disk gone"); });
  while (w.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_THROW(w.check(), std::runtime_error);
  EXPECT_NO_THROW(w.check());

  w.submit([] { throw std::runtime_error("second failure"); });
  bool ran = false;
  EXPECT_THROW(w.submit([&ran] { ran = true; }), std::runtime_error);
  w.wait();
  EXPECT_FALSE(ran) << "the job after a failure was started although submit threw";
}

TEST(BackgroundWriterTest, DestructionFinishesThePendingJob) {
  std::atomic<bool> done{false};
  {
    BackgroundWriter w;
    w.submit([&done] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      done = true;
    });
  }
  EXPECT_TRUE(done.load());
}

}  // namespace
}  // namespace mmhook
