// Hostile paths and files: devices, FIFOs, folders and symlinks given where a checkpoint, text
// file, dataset or model is expected; checkpoints over the size limit; gzip bombs as datasets; a
// file size limit (ulimit -f) reached while saving a checkpoint.
//
// Each attempt that could hang or exhaust memory on a broken reader runs in a child process with
// a deadline and an address-space limit, so a regression fails fast instead of hanging the suite
// or being killed by the OOM killer.

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "mmhook/checkpoint/checkpoint.h"
#include "mmhook/core/error.h"
#include "mmhook/core/file_io.h"
#include "mmhook/data/mnist.h"
#include "mmhook/model/torchscript_model.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;

namespace mmhook {
namespace {

using testing::TempDir;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What a child process reported, and how it ended.
struct ChildResult {
  std::string report;  // what `body` returned, or "Error <code>: <what>" / "exception: <what>"
  bool timed_out = false;
  int status = 0;  // waitpid's status
  bool exited_normally() const { return !timed_out && WIFEXITED(status); }
};

// This process's address space in bytes (VmSize), the base of the child's limit.
uint64_t address_space_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  return 0;
}

// Runs `body` in a forked child under an address-space limit of the current size plus
// `extra_memory` bytes; its result (or the Error / exception it threw) comes back as text. A
// child still running after `deadline` is killed and reported as timed out.
ChildResult run_in_child(const std::function<std::string()>& body,
                         uint64_t extra_memory = uint64_t{256} << 20,
                         std::chrono::seconds deadline = std::chrono::seconds(20)) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  const uint64_t limit = address_space_bytes() + extra_memory;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return {};
  }
  if (pid == 0) {
    ::close(fds[0]);
    const struct rlimit as { limit, limit };
    (void)::setrlimit(RLIMIT_AS, &as);
    std::string report;
    try {
      report = body();
    } catch (const Error& e) {
      report = "Error " + std::to_string(static_cast<int>(e.code())) + ": " + e.what();
    } catch (const std::exception& e) {
      report = std::string("exception: ") + e.what();
    }
    size_t off = 0;
    while (off < report.size()) {
      const ssize_t n = ::write(fds[1], report.data() + off, report.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildResult result;
  const auto end = std::chrono::steady_clock::now() + deadline;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    struct pollfd p {
      fds[0], POLLIN, 0
    };
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.report.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
  }
  return result;
}

std::string describe(const ChildResult& r) {
  if (r.timed_out) return "the child hung (killed after the deadline); report so far: " + r.report;
  if (WIFSIGNALED(r.status))
    return "the child was killed by signal " + std::to_string(WTERMSIG(r.status)) + " (" +
           strsignal(WTERMSIG(r.status)) + ")";
  return "child report: " + r.report;
}

// Every kind of non-regular path the readers must refuse, with the reason they must give.
struct HostilePath {
  std::string path;
  std::string reason;
};

std::vector<HostilePath> hostile_paths(const TempDir& dir) {
  const std::string fifo = dir / "fifo";
  if (::mkfifo(fifo.c_str(), 0600) != 0) ADD_FAILURE() << "mkfifo: " << std::strerror(errno);
  fs::create_directory(dir / "folder");
  fs::create_symlink("/dev/zero", dir / "link_to_zero");
  return {{"/dev/zero", "not a regular file (character device)"},
          {"/dev/urandom", "not a regular file (character device)"},
          {fifo, "is a FIFO"},
          {dir / "folder", "is a directory"},
          {dir / "link_to_zero", "not a regular file (character device)"}};
}

// ----------------------------------------------------------------------- non-regular paths

TEST(HostilePathTest, CheckpointLoadRefusesDevicesFifosFoldersAndSymlinksToDevices) {
  TempDir dir;
  for (const auto& hp : hostile_paths(dir)) {
    const auto start = std::chrono::steady_clock::now();
    const ChildResult r = run_in_child([&] {
      (void)load_checkpoint_file(hp.path);
      return std::string("loaded");
    });
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r.exited_normally()) << hp.path << ": " << describe(r);
    EXPECT_TRUE(contains(r.report, "Error 12: checkpoint '" + hp.path + "': " + hp.reason))
        << hp.path << ": " << r.report;
    EXPECT_LT(secs, 5.0) << hp.path << " took " << secs << " s to refuse";
  }
}

TEST(HostilePathTest, TextFilesDatasetsAndModelsRefuseThemToo) {
  TempDir dir;
  for (const auto& hp : hostile_paths(dir)) {
    const ChildResult text = run_in_child([&] { return read_text_file(hp.path); });
    ASSERT_TRUE(text.exited_normally()) << hp.path << ": " << describe(text);
    EXPECT_TRUE(contains(text.report, "Error 10: cannot read '" + hp.path + "': " + hp.reason))
        << hp.path << ": " << text.report;

    const ChildResult idx = run_in_child([&] {
      (void)read_idx_file(hp.path, 0x803);
      return std::string("loaded");
    });
    ASSERT_TRUE(idx.exited_normally()) << hp.path << ": " << describe(idx);
    EXPECT_TRUE(
        contains(idx.report, "Error 10: cannot read dataset file " + hp.path + ": " + hp.reason))
        << hp.path << ": " << idx.report;

    const ChildResult model = run_in_child([&] {
      TorchScriptModel m({hp.path});
      return std::string("loaded");
    });
    ASSERT_TRUE(model.exited_normally()) << hp.path << ": " << describe(model);
    EXPECT_TRUE(contains(model.report, "TorchScriptModel.path '" + hp.path + "'")) << model.report;
    EXPECT_TRUE(contains(model.report, hp.reason)) << hp.path << ": " << model.report;
  }
}

TEST(HostilePathTest, AMissingFileIsStillReportedAsMissing) {
  TempDir dir;
  try {
    (void)load_checkpoint_file(dir / "none.pth");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "file not found")) << e.what();
  }
  std::vector<char> out;
  const FileProblem p = read_regular_file(dir / "none", text_file_size_limit(), out);
  EXPECT_EQ(p.err, ENOENT);
  EXPECT_FALSE(p.ok());
}

// ------------------------------------------------------------------------------ size limits

TEST(FileSizeLimitTest, CheckpointLimitFromTheEnvironmentNamesItself) {
  TempDir dir;
  Checkpoint ckpt;
  ckpt.set("w", c10::IValue(torch::ones({64})));
  const std::string path = dir / "c.pth";
  save_checkpoint_file(path, ckpt);
  const auto size = fs::file_size(path);
  ::setenv("MMHOOK_MAX_CHECKPOINT_BYTES", "100", 1);
  try {
    (void)load_checkpoint_file(path);
    ADD_FAILURE() << "a " << size << "-byte checkpoint loaded under a 100-byte limit";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCheckpoint);
    EXPECT_TRUE(contains(e.what(), "checkpoint '" + path + "': size " + std::to_string(size) +
                                       " exceeds the limit 100 set by "
                                       "MMHOOK_MAX_CHECKPOINT_BYTES=100"))
        << e.what();
  }
  ::setenv("MMHOOK_MAX_CHECKPOINT_BYTES", std::to_string(size).c_str(), 1);
  EXPECT_NO_THROW((void)load_checkpoint_file(path));
  ::setenv("MMHOOK_MAX_CHECKPOINT_BYTES", "lots", 1);
  try {
    (void)load_checkpoint_file(path);
    ADD_FAILURE() << "a malformed limit was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_TRUE(contains(e.what(), "MMHOOK_MAX_CHECKPOINT_BYTES='lots'")) << e.what();
  }
  ::unsetenv("MMHOOK_MAX_CHECKPOINT_BYTES");
  EXPECT_EQ(checkpoint_size_limit().max_bytes, kDefaultMaxCheckpointBytes);
  EXPECT_NO_THROW((void)load_checkpoint_file(path));
}

TEST(FileSizeLimitTest, TextFileOverTheLimitIsRefusedWithoutReadingIt) {
  TempDir dir;
  const std::string path = dir / "last_checkpoint";
  // Sparse: 64 MiB + 1 byte of size, no disk blocks.
  { std::ofstream(path) << "x"; }
  fs::resize_file(path, kMaxTextFileBytes + 1);
  try {
    (void)read_text_file(path);
    ADD_FAILURE() << "read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kIo);
    EXPECT_TRUE(contains(e.what(), "cannot read '" + path + "': size " +
                                       std::to_string(kMaxTextFileBytes + 1) +
                                       " exceeds the limit " + std::to_string(kMaxTextFileBytes)))
        << e.what();
  }
}

// ------------------------------------------------------------------------------- gzip bombs

std::string be32(uint32_t v) {
  std::string s;
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((v >> sh) & 0xff));
  return s;
}

// One gzip member holding `bytes`.
std::string gzip_member(const std::string& bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, bytes.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// An idx images file with the given header dims followed by 1 GiB of zeros, as a gzip file of
// about 1 MB: 1024 concatenated members of 1 MiB each (zlib reads them as one stream).
std::string write_bomb(const TempDir& dir, const std::string& name, uint32_t n, uint32_t h,
                       uint32_t w) {
  std::string path = dir / name;
  const std::string mib(size_t{1} << 20, '\0');
  const std::string zeros = gzip_member(mib);
  std::ofstream out(path, std::ios::binary);
  out << gzip_member(be32(0x803) + be32(n) + be32(h) + be32(w) + mib);
  for (int i = 1; i < 1024; ++i) out << zeros;
  return path;
}

TEST(GzipBombTest, MoreDataThanTheHeaderDeclaresIsRefusedAfterOneByte) {
  TempDir dir;
  const std::string path = write_bomb(dir, "train-images-idx3-ubyte.gz", 10, 28, 28);
  EXPECT_LT(fs::file_size(path), uint64_t{2} << 20);
  const auto start = std::chrono::steady_clock::now();
  const ChildResult r = run_in_child([&] {
    (void)read_idx_file(path, 0x803);
    return std::string("loaded");
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.exited_normally()) << describe(r);
  EXPECT_TRUE(contains(r.report, "Error 10: cannot read dataset file " + path +
                                     ": trailing bytes: decompresses to more than the 7856 "
                                     "bytes its header declares"))
      << r.report;
  EXPECT_LT(secs, 5.0);
}

TEST(GzipBombTest, HeaderDeclaringMoreThanTheFileCanHoldIsRefusedBeforeReading) {
  TempDir dir;
  // 8 GiB declared: 1 GiB is present, and the ~1 MB file could not decompress to more than
  // ~1.1 GB. Reading it would grow a buffer to 1 GiB first (past the child's memory limit).
  const std::string path = write_bomb(dir, "images.gz", 8192, 1024, 1024);
  const ChildResult r = run_in_child([&] {
    (void)read_idx_file(path, 0x803);
    return std::string("loaded");
  });
  ASSERT_TRUE(r.exited_normally()) << describe(r);
  EXPECT_TRUE(contains(r.report, "Error 10: cannot read dataset file " + path +
                                     ": truncated (data: the header declares 8589934608 bytes, "
                                     "more than the " +
                                     std::to_string(fs::file_size(path)) +
                                     "-byte file can decompress to)"))
      << r.report;
}

TEST(GzipBombTest, HeaderDeclaringMoreThan16GiBIsImplausible) {
  TempDir dir;
  const std::string path = dir / "images";
  std::ofstream(path, std::ios::binary) << be32(0x803) + be32(20000) + be32(1000) + be32(1000);
  try {
    (void)read_idx_file(path, 0x803);
    ADD_FAILURE() << "read";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), path + ": implausible dimensions")) << e.what();
  }
}

// ---------------------------------------------------------------------- file size limit

TEST(FileSizeLimitTest, UlimitFStopsTheSaveWithAnErrorAndKeepsThePreviousCheckpoint) {
  TempDir dir;
  const std::string path = dir / "iter_1.pth";
  Checkpoint small;
  small.set("w", c10::IValue(torch::full({16}, 1.0)));
  save_checkpoint_file(path, small);
  const auto previous_size = fs::file_size(path);
  const ChildResult r = run_in_child([&] {
    const struct rlimit fsize { 64 * 1024, 64 * 1024 };
    if (::setrlimit(RLIMIT_FSIZE, &fsize) != 0) return std::string("setrlimit failed");
    Checkpoint big;
    big.set("w", c10::IValue(torch::full({1 << 18}, 2.0)));  // 1 MiB of float32
    save_checkpoint_file(path, big);
    return std::string("saved");
  });
  ASSERT_TRUE(r.exited_normally()) << describe(r);
  EXPECT_TRUE(contains(r.report, "Error 10: cannot write '" + path + "'")) << r.report;
  EXPECT_TRUE(contains(r.report, "File too large")) << r.report;
  // The previous checkpoint is intact and no temporary file is left.
  EXPECT_EQ(fs::file_size(path), previous_size);
  const Checkpoint back = load_checkpoint_file(path);
  EXPECT_TRUE(back.get("w").toTensor().equal(torch::full({16}, 1.0)));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace mmhook
