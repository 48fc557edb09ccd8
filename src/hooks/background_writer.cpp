#include "mmhook/hooks/background_writer.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

namespace mmhook {

struct BackgroundWriter::State {
  std::mutex mutex;
  std::condition_variable cv;
  std::function<void()> job;  // set: a job waits or runs
  std::exception_ptr error;   // of a finished job, until reported
  std::atomic<bool> failed{false};
  bool stop = false;
  std::thread thread;
};

BackgroundWriter::BackgroundWriter() : state_(std::make_unique<State>()) {
  State& st = *state_;
  st.thread = std::thread([&st] {
    std::unique_lock<std::mutex> lock(st.mutex);
    for (;;) {
      st.cv.wait(lock, [&st] { return st.stop || st.job; });
      if (!st.job) return;  // stopped with nothing left to do
      std::function<void()> job = st.job;
      lock.unlock();
      std::exception_ptr error;
      try {
        job();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      st.job = nullptr;
      if (error && !st.error) {
        st.error = error;
        st.failed.store(true, std::memory_order_release);
      }
      st.cv.notify_all();
    }
  });
}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->thread.join();  // the thread finishes a pending job first
}

void BackgroundWriter::wait() {
  State& st = *state_;
  std::unique_lock<std::mutex> lock(st.mutex);
  st.cv.wait(lock, [&st] { return !st.job; });
  if (st.error) {
    std::exception_ptr error = std::exchange(st.error, nullptr);
    st.failed.store(false, std::memory_order_relaxed);
    std::rethrow_exception(error);
  }
}

void BackgroundWriter::check() {
  if (state_->failed.load(std::memory_order_acquire)) wait();
}

void BackgroundWriter::submit(std::function<void()> job) {
  wait();
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->job = std::move(job);
  }
  state_->cv.notify_all();
}

bool BackgroundWriter::busy() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<bool>(state_->job);
}

}  // namespace mmhook
