// A loader whose worker threads cannot all be started (a process or memory limit) fails with an
// Error naming the worker, after stopping and joining the ones it started: it used to call
// std::terminate and kill the host process.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <torch/types.h>

#include "mmhook/data/data_loader.h"
#include "mmhook/data/sampler.h"

namespace mmhook {
namespace {

class CountingDataset : public Dataset {
 public:
  int64_t size() const override { return 64; }
  TensorDict get(int64_t index, uint64_t) const override {
    TensorDict d;
    d.set("inputs", torch::full({1}, static_cast<double>(index)));
    return d;
  }
};

// Virtual memory of this process in bytes (VmSize of /proc/self/status).
long long vm_size_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmSize:") {
      long long kb = 0;
      in >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

#if defined(__SANITIZE_ADDRESS__)
#define MMHOOK_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMHOOK_TEST_ASAN 1
#endif
#endif

TEST(LoaderLimitsTest, WorkerThatCannotStartIsAnErrorNotATerminate) {
#ifdef MMHOOK_TEST_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves its shadow memory up front and aborts when an "
                  "address-space limit refuses more";
#endif
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Room for a few dozen 8 MiB thread stacks, not for 1000 (RLIMIT_NPROC does not bind root,
    // an address-space limit does).
    const long long vm = vm_size_bytes();
    if (vm <= 0) _exit(10);
    struct rlimit rl {};
    rl.rlim_cur = static_cast<rlim_t>(vm + (256LL << 20));
    rl.rlim_max = RLIM_INFINITY;
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(11);
    auto dataset = std::make_shared<CountingDataset>();
    auto sampler = std::make_shared<DefaultSampler>(dataset->size(), false, 0, true, 0, 1);
    DataLoader loader(dataset, sampler, 4, /*num_workers=*/1000);
    try {
      auto it = loader.iterate();
      _exit(3);  // all 1000 started: the limit did not bite
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (e.code() != Code::kUnavailable) _exit(4);
      if (msg.find("could not start loader worker ") == std::string::npos) _exit(5);
      if (msg.find(" of 1000: ") == std::string::npos) _exit(6);
    }
    // The process is intact: the same loader works with a number of workers that fits.
    DataLoader small(dataset, sampler, 4, /*num_workers=*/2);
    auto it = small.iterate();
    TensorDict batch;
    int64_t batches = 0;
    while (it->next(&batch)) ++batches;
    _exit(batches == 16 ? 0 : 7);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status)
                                 << " (std::terminate is SIGABRT)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the exit codes in the test";
}

TEST(LoaderLimitsTest, AbsurdWorkerAndPrefetchCountsAreRefused) {
  auto dataset = std::make_shared<CountingDataset>();
  auto sampler = std::make_shared<DefaultSampler>(dataset->size(), false, 0, true, 0, 1);
  EXPECT_THROW(DataLoader(dataset, sampler, 4, kMaxLoaderWorkers + 1), Error);
  EXPECT_THROW(DataLoader(dataset, sampler, 4, 1, false, kMaxPrefetchFactor + 1), Error);
  EXPECT_NO_THROW(DataLoader(dataset, sampler, 4, 2, false, 2));
}

}  // namespace
}  // namespace mmhook
