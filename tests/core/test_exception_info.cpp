// describe_exception: the one mapping from an exception to an error code and message, shared
// by the C ABI, hook errors and the Runner's failure log.

#include <gtest/gtest.h>

#include <new>
#include <stdexcept>

#include <c10/util/Exception.h>

#include "mmhook/core/error.h"
#include "mmhook/core/exception_info.h"
#include "mmhook/engine/runner.h"
#include "runner_fixture.h"

namespace mmhook {
namespace {

template <class E>
ExceptionInfo info_of(E error) {
  return describe_exception(std::make_exception_ptr(std::move(error)));
}

TEST(ExceptionInfoTest, EachKindOfExceptionHasOneCode) {
  EXPECT_EQ(info_of(Error(Code::kCheckpoint, "bad file")).code, Code::kCheckpoint);
  EXPECT_EQ(info_of(Error(Code::kCheckpoint, "bad file")).message, "bad file");
  EXPECT_EQ(info_of(std::invalid_argument("x must be > 0")).code, Code::kInvalidArgument);
  EXPECT_EQ(info_of(std::out_of_range("index 9 of 3")).code, Code::kInvalidArgument);
  EXPECT_EQ(info_of(std::bad_alloc()).code, Code::kOom);
  EXPECT_EQ(info_of(std::bad_alloc()).message, "out of memory");
  EXPECT_EQ(info_of(std::runtime_error("disk on fire")).code, Code::kInternal);
  EXPECT_EQ(info_of(42).code, Code::kInternal);
  EXPECT_EQ(info_of(42).message, "unknown exception");
  std::exception_ptr torch_error;
  try {
    TORCH_CHECK(false, "shape mismatch");
  } catch (...) {
    torch_error = std::current_exception();
  }
  const ExceptionInfo torch = describe_exception(torch_error);
  EXPECT_EQ(torch.code, Code::kTorch);
  EXPECT_EQ(torch.message.find('\n'), std::string::npos) << torch.message;  // no C++ backtrace
  EXPECT_NE(torch.message.find("shape mismatch"), std::string::npos) << torch.message;
}

// A hook's std::invalid_argument is reported with the code the C boundary gives it.
TEST(ExceptionInfoTest, AHooksInvalidArgumentKeepsItsCode) {
  struct Thrower : HookImpl<Thrower> {
    void before_train(Runner&) override { throw std::invalid_argument("threshold must be > 0"); }
  };
  testing::TempDir dir;
  Runner runner(testing::epoch_config(dir.path()));
  runner.register_hook(std::make_shared<Thrower>());
  try {
    runner.train();
    ADD_FAILURE() << "no error";
  } catch (const HookError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_EQ(e.stage(), Stage::kBeforeTrain);
    EXPECT_NE(std::string(e.what()).find("failed at before_train: threshold must be > 0"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mmhook
