// write_file_atomic / read_text_file (checkpoint/atomic_file.h): whole-file replacement that
// leaves either the old or the new file, and the bounded read of small text files.

#include "mmhook/checkpoint/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "checkpoint_test_util.h"
#include "file_contents.h"
#include "mmhook/core/error.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::file_contents;
using testing::ScratchDir;

// Files in `dir` besides the ones named: a leftover temporary file would show here.
size_t count_entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(AtomicFileTest, WritesAndReplacesWholeFilesLeavingNoTemporaryBehind) {
  ScratchDir dir;
  const std::string path = (dir.path() / "last_checkpoint").string();
  write_file_atomic(path, std::string("epoch_1.pth"));
  EXPECT_EQ(read_text_file(path), "epoch_1.pth");
  write_file_atomic(path, std::string("epoch_22.pth"));
  EXPECT_EQ(read_text_file(path), "epoch_22.pth");
  write_file_atomic(path, std::string("e"));  // shorter: nothing of the old text is left
  EXPECT_EQ(file_contents(path), "e");
  EXPECT_EQ(count_entries(dir.path()), 1U);
}

TEST(AtomicFileTest, BinaryDataKeepsEveryByte) {
  ScratchDir dir;
  const std::string path = (dir.path() / "blob.bin").string();
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += std::string(3, '\0');
  write_file_atomic(path, bytes.data(), bytes.size());
  EXPECT_EQ(file_contents(path), bytes);
  EXPECT_EQ(fs::file_size(path), 259U);
}

TEST(AtomicFileTest, AFailedReplaceKeepsWhatWasThereAndNamesTheFile) {
  ScratchDir dir;
  // The target is a folder with a file in it: the final rename fails (as root too).
  const fs::path target = dir.path() / "epoch_3.pth";
  fs::create_directories(target);
  std::ofstream(target / "keep.txt") << "kept";
  const std::string msg =
      error_of([&] { write_file_atomic(target.string(), std::string("new contents")); });
  EXPECT_NE(msg.find("epoch_3.pth"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_EQ(file_contents(target / "keep.txt"), "kept");
  EXPECT_EQ(count_entries(dir.path()), 1U) << "a temporary file was left behind";
}

TEST(AtomicFileTest, AMissingFolderIsNamedWithTheSystemsReason) {
  ScratchDir dir;
  const std::string path = (dir.path() / "no_such_folder" / "last_checkpoint").string();
  const std::string msg = error_of([&] { write_file_atomic(path, std::string("x")); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir.path() / "no_such_folder"));
}

TEST(AtomicFileTest, HostileFileNamesAreJustNames) {
  ScratchDir dir;
  for (const char* name : {"a\nb", "it's \"quoted\"", "$(touch pwned)", "bang!`x`"}) {
    const std::string path = (dir.path() / name).string();
    write_file_atomic(path, std::string(name));
    EXPECT_EQ(read_text_file(path), name);
  }
  EXPECT_FALSE(fs::exists("pwned"));
  EXPECT_EQ(count_entries(dir.path()), 4U);
}

TEST(AtomicFileTest, ReadingAMissingFileOrAFolderNamesItAndWhy) {
  ScratchDir dir;
  const std::string missing = (dir.path() / "last_checkpoint").string();
  std::string msg = error_of([&] { read_text_file(missing); });
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  msg = error_of([&] { read_text_file(dir.path().string()); });
  EXPECT_NE(msg.find(dir.path().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
}

}  // namespace
}  // namespace mmhook
