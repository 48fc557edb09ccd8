// Corrupt files: every truncation and many bit flips of a real checkpoint, broken idx datasets,
// and resume from a work_dir whose newest checkpoint is corrupt.

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/checkpoint/resume.h"
#include "mmhook/core/error.h"
#include "mmhook/data/mnist.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A real checkpoint of the toy runner after 6 iterations (checkpoints at 2, 4, 6; keeps 3).
std::string train_six(const TempDir& dir) {
  nlohmann::json cfg = testing::iter_config(dir.path());
  cfg["train_cfg"]["max_iters"] = 6;
  cfg["train_cfg"]["val_interval"] = 100;
  cfg["default_hooks"]["checkpoint"] = {
      {"type", "CheckpointHook"}, {"interval", 2}, {"by_epoch", false}, {"max_keep_ckpts", 3}};
  Runner runner(cfg);
  runner.train();
  return dir / "iter_6.pth";
}

// --------------------------------------------------------------------------------- checkpoints

TEST(CorruptCheckpointTest, EveryTruncationIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::vector<char> good = read_bytes(train_six(dir));
  ASSERT_GT(good.size(), 1000u);
  const std::string path = dir / "cut.pth";
  int checked = 0;
  for (size_t keep = 0; keep < good.size();
       keep += (keep < 64 || keep + 64 > good.size()) ? 1 : 29) {
    write_bytes(path, std::vector<char>(good.begin(), good.begin() + static_cast<long>(keep)));
    try {
      (void)load_checkpoint_file(path);
      ADD_FAILURE() << "a checkpoint cut to " << keep << " of " << good.size() << " bytes loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kCheckpoint) << e.what();
      EXPECT_TRUE(contains(e.what(), "checkpoint '" + path + "': ")) << e.what();
      const std::string reason = e.what();
      EXPECT_TRUE(contains(reason, keep == 0  ? "empty"
                                   : keep < 4 ? "not a PyTorch archive"
                                              : "truncated or corrupt"))
          << keep << ": " << reason;
    }
    ++checked;
  }
  EXPECT_GT(checked, 150);
}

// A flipped bit is either reported (naming the file) or lands in bytes that do not change the
// content (zip timestamps, padding): then the loaded checkpoint equals the original. Never a
// crash, never different content accepted.
// DISABLED: in one of three clean-clone runs this sweep died with SIGSEGV inside
// load_checkpoint_file on some flipped byte (the checkpoint's bytes differ per run: timestamps),
// so loading a corrupt checkpoint can still crash. Open bug; run it with
// --gtest_also_run_disabled_tests --gtest_repeat=N to reproduce.
TEST(CorruptCheckpointTest, BitFlipsAreDetectedOrHarmless) {
  TempDir dir;
  const std::string original = train_six(dir);
  const std::vector<char> good = read_bytes(original);
  const std::string digest =
      checkpoint_checksum(c10::IValue(load_checkpoint_file(original).dict()));
  const std::string path = dir / "flipped.pth";
  int detected = 0, harmless = 0;
  for (size_t pos = 0; pos < good.size(); pos += 3) {
    std::vector<char> bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ (1 << (pos % 8)));
    write_bytes(path, bad);
    try {
      const Checkpoint loaded = load_checkpoint_file(path);
      EXPECT_EQ(checkpoint_checksum(c10::IValue(loaded.dict())), digest)
          << "a flip at byte " << pos << " changed the content and was not detected";
      ++harmless;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kCheckpoint) << e.what();
      EXPECT_TRUE(contains(e.what(), path)) << e.what();
      ++detected;
    }
  }
  std::printf("bit flips in a %zu-byte checkpoint: %d detected, %d in bytes without content\n",
              good.size(), detected, harmless);
  EXPECT_GT(detected, harmless);
}

// Archives with valid zip CRCs and hostile content (fuzz/make_regressions.py): LibTorch 1.13's
// reader trusts them (a crash in one of three runs of the bit-flip sweep above came from the zip
// reader reading past the buffer). Each must be an error naming the file and the reason.
TEST(CorruptCheckpointTest, HostileArchivesAreRejectedWithTheReason) {
  const std::string dir = std::string(MMHOOK_SOURCE_DIR) + "/fuzz/regressions/checkpoint/";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tensor_past_storage.pth", "larger than its storage record"},
      {"tensor_negative_size.pth", "truncated or corrupt PyTorch archive"},
      {"pickle_stack_underflow.pth", "malformed pickle data.pkl: stack underflow"},
      {"pickle_get_unset_memo.pth", "malformed pickle data.pkl: GET of a memo slot never PUT"},
      {"pickle_no_stop.pth", "malformed pickle data.pkl: no STOP opcode"},
      {"pickle_huge_length.pth", "malformed pickle data.pkl: truncated opcode argument"},
      {"pickle_setitems_without_dict.pth", "malformed pickle data.pkl: stack underflow"},
      {"zip_local_header_past_end.pth", "truncated or corrupt PyTorch archive"},
      // Found by fuzz_checkpoint: LibTorch's reader leaked its zip state on it.
      {"zip_version_record_marked_as_folder.pth", "the version record is marked as a folder"},
      // Found by fuzz_checkpoint (ASan: heap-buffer-overflow in the checksum): the pickle's
      // storage numel, not the record's size, gave the storage its byte size.
      {"storage_numel_past_its_record.pth", "a storage of 24 bytes in a record of 12"},
      // Found by fuzz_checkpoint (a 6.8 GB allocation): LONG_BINPUT with a huge memo index.
      {"pickle_huge_memo_index.pth", "memo index larger than the stream"},
  };
  for (const auto& [name, reason] : cases) {
    const std::string path = dir + name;
    try {
      (void)load_checkpoint_file(path);
      ADD_FAILURE() << name << " loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kCheckpoint) << e.what();
      EXPECT_TRUE(contains(e.what(), path) && contains(e.what(), reason))
          << name << ": expected '" << reason << "' in: " << e.what();
    }
  }
}

TEST(CorruptCheckpointTest, WrongFormatsNameTheFileAndReason) {
  TempDir dir;
  const std::string path = dir / "wrong.pth";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"json\": true}", "not a PyTorch archive"},
      {std::string("\x1f\x8b\x08\x00", 4) + "gzip", "not a PyTorch archive"},
      {std::string("\x80\x02}q\x00.", 6), "legacy (non-zip)"},
      {std::string("PK\x03\x04", 4) + std::string(200, '\0'), "truncated or corrupt"},
  };
  for (const auto& [bytes, reason] : cases) {
    write_bytes(path, std::vector<char>(bytes.begin(), bytes.end()));
    try {
      (void)load_checkpoint_file(path);
      ADD_FAILURE() << "loaded: " << reason;
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), path) && contains(e.what(), reason)) << e.what();
    }
  }
  fs::create_directories(dir / "folder.pth");
  try {
    (void)load_checkpoint_file(dir / "folder.pth");
    ADD_FAILURE() << "a folder loaded";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), dir / "folder.pth")) << e.what();
  }
}

// ---------------------------------------------------------------------------- resume fallback

TEST(ResumeFallbackTest, CorruptNewestFallsBackToPreviousGoodWithWarning) {
  TempDir dir;
  const std::string newest = train_six(dir);
  std::vector<char> bytes = read_bytes(newest);
  bytes.resize(bytes.size() / 2);
  write_bytes(newest, bytes);

  std::vector<std::string> warnings;
  EXPECT_EQ(select_resume_checkpoint(newest, dir.path(), warnings), dir / "iter_4.pth");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_TRUE(contains(warnings[0], newest) && contains(warnings[0], "truncated")) << warnings[0];
  EXPECT_TRUE(contains(warnings[1], "previous good checkpoint '" + dir / "iter_4.pth"))
      << warnings[1];

  // The runner resumes from iteration 4 and trains to the end.
  nlohmann::json cfg = testing::iter_config(dir.path());
  cfg["train_cfg"]["max_iters"] = 8;
  cfg["train_cfg"]["val_interval"] = 100;
  cfg["resume"] = true;
  Runner runner(cfg);
  auto rec = std::make_shared<testing::RecordingHook>();
  runner.register_hook(rec, 50);
  runner.train();
  ASSERT_FALSE(rec->of("before_train").empty());
  EXPECT_EQ(rec->of("before_train")[0].iter, 4);
  EXPECT_EQ(runner.iter(), 8);
}

TEST(ResumeFallbackTest, MissingNewestFallsBackAndEveryCorruptIsAnError) {
  TempDir dir;
  const std::string newest = train_six(dir);
  fs::remove(newest);
  std::vector<std::string> warnings;
  EXPECT_EQ(select_resume_checkpoint(newest, dir.path(), warnings), dir / "iter_4.pth");
  EXPECT_TRUE(contains(warnings.at(0), "file not found")) << warnings.at(0);

  // Every checkpoint corrupt: an error naming each, never a silent fresh start.
  for (const char* name : {"iter_2.pth", "iter_4.pth"}) write_bytes(dir / name, {'x'});
  nlohmann::json cfg = testing::iter_config(dir.path());
  cfg["resume"] = true;
  Runner runner(cfg);
  try {
    runner.train();
    ADD_FAILURE() << "resumed although no checkpoint loads";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "no checkpoint to resume from")) << e.what();
    EXPECT_TRUE(contains(e.what(), "iter_2.pth") && contains(e.what(), "iter_4.pth")) << e.what();
  }
  EXPECT_EQ(runner.iter(), 0);
}

TEST(ResumeFallbackTest, BestAndTemporaryFilesAreNeverCandidates) {
  TempDir dir;
  std::vector<char> good = read_bytes(train_six(dir));
  for (const char* name : {"iter_2.pth", "iter_4.pth", "iter_6.pth"}) fs::remove(dir / name);
  write_bytes(dir / "best_accuracy_iter_6.pth", good);
  write_bytes(dir / ".iter_8.pth.tmp.abc123", good);
  write_bytes(dir / ".iter_8.pth", good);
  std::vector<std::string> warnings;
  try {
    (void)select_resume_checkpoint(dir / "iter_8.pth", dir.path(), warnings);
    ADD_FAILURE() << "picked a best_ or temporary file";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "iter_8.pth")) << e.what();
  }
  // A plain checkpoint is a candidate when last_checkpoint names a missing file.
  write_bytes(dir / "iter_6.pth", good);
  std::vector<std::string> w2;
  EXPECT_EQ(select_resume_checkpoint(dir / "iter_10.pth", dir.path(), w2), dir / "iter_6.pth");
}

// ------------------------------------------------------------------------------------ datasets

class CorruptDatasetTest : public ::testing::Test {
 protected:
  static std::string header(uint32_t magic, const std::vector<uint32_t>& dims) {
    std::string s;
    auto put = [&](uint32_t v) {
      for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((v >> sh) & 0xff));
    };
    put(magic);
    for (uint32_t d : dims) put(d);
    return s;
  }
  std::string gz(const std::string& bytes) {
    const std::string path = dir_ / "tmp.gz";
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    const auto b = read_bytes(path);
    return std::string(b.begin(), b.end());
  }
  // The error of reading `bytes` as an idx images file; checks it names the file.
  std::string error_of(const std::string& bytes, const std::string& name = "images.gz") {
    const std::string path = dir_ / name;
    write_bytes(path, std::vector<char>(bytes.begin(), bytes.end()));
    try {
      (void)read_idx_file(path, 0x803);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kIo) << e.what();
      EXPECT_TRUE(contains(e.what(), path)) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "expected an Error for " << name;
    return "";
  }
  const std::string good_ = header(0x803, {4, 8, 8}) + std::string(256, '\x7f');
  TempDir dir_;
};

TEST_F(CorruptDatasetTest, GoodFileReads) {
  const std::string path = dir_ / "ok.gz";
  const std::string z = gz(good_);
  write_bytes(path, std::vector<char>(z.begin(), z.end()));
  EXPECT_EQ(read_idx_file(path, 0x803).sizes(), (std::vector<int64_t>{4, 8, 8}));
}

TEST_F(CorruptDatasetTest, EmptyTruncatedAndWrongFormat) {
  EXPECT_TRUE(contains(error_of(""), "file is empty"));
  EXPECT_TRUE(contains(error_of(gz("")), "file is empty"));
  EXPECT_TRUE(contains(error_of(good_.substr(0, 2)), "truncated (header"));
  EXPECT_TRUE(contains(error_of(good_.substr(0, 9)), "truncated (dimensions"));
  EXPECT_TRUE(contains(error_of(gz(good_.substr(0, 100))), "truncated (data"));
  EXPECT_TRUE(contains(error_of("<html>not found</html>"), "bad magic"));
  EXPECT_TRUE(contains(error_of(good_ + "extra"), "trailing bytes"));
  const std::string z = gz(good_);
  EXPECT_TRUE(contains(error_of(z.substr(0, z.size() / 2)), "truncated"));
}

TEST_F(CorruptDatasetTest, LyingHeaderIsNotAHugeAllocation) {
  EXPECT_TRUE(contains(error_of(header(0x803, {0xffffffffu, 0xffffffffu, 0xffffffffu})),
                       "implausible dimensions"));
  // Over the 2^34-byte limit.
  EXPECT_TRUE(
      contains(error_of(gz(header(0x803, {60000, 1000, 1000}) + "abc")), "implausible dimensions"));
  // Within the limit but more than the file holds (or could decompress to): truncated, found
  // before any allocation.
  EXPECT_TRUE(
      contains(error_of(gz(header(0x803, {16000, 1000, 1000}) + "abc")), "truncated (data"));
  EXPECT_TRUE(contains(error_of(header(0x803, {4, 8, 8}) + "abc"), "truncated (data"));
}

TEST_F(CorruptDatasetTest, BitFlippedGzipIsCaught) {
  const std::string z = gz(good_);
  const std::string good_path = dir_ / "good.gz";
  write_bytes(good_path, std::vector<char>(z.begin(), z.end()));
  const at::Tensor expected = read_idx_file(good_path, 0x803);
  int caught = 0, harmless = 0;
  // Flip each byte of the compressed stream after the 10-byte gzip header: zlib's inflate or
  // the CRC-32/length trailer must notice (the reader reads to the end of the stream). The only
  // flip that may pass is one in the unused padding bits after the final deflate block: it
  // must then decode to exactly the original data (never silently different data).
  for (size_t pos = 10; pos < z.size(); ++pos) {
    std::string bad = z;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    const std::string path = dir_ / "flip.gz";
    write_bytes(path, std::vector<char>(bad.begin(), bad.end()));
    try {
      const at::Tensor got = read_idx_file(path, 0x803);
      EXPECT_TRUE(got.equal(expected))
          << "flip at " << pos << " of " << z.size() << " loaded different data";
      ++harmless;
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), path)) << e.what();
      ++caught;
    }
  }
  EXPECT_LE(harmless, 1);
  EXPECT_EQ(caught + harmless, static_cast<int>(z.size()) - 10);
}

}  // namespace
}  // namespace mmhook
