// Data-parallel training on c10d/Gloo: 2 processes on loopback, started by these tests as
// tests/dist/dist_worker children (or through `mmhook launch`), plus in-process checks of the
// sampler shards, the launch environment and a world-size-1 process group.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>

#include "mmhook/core/error.h"
#include "mmhook/data/sampler.h"
#include "mmhook/dist/dist.h"
#include "mmhook/dist/launcher.h"
#include "runner_fixture.h"

namespace fs = std::filesystem;
using mmhook::testing::TempDir;

namespace {

// Starts `world` workers (none distributed when world == 0: one plain process) with `args`,
// waits up to `deadline_s` (then kills them: a hang fails the test instead of ctest's
// timeout) and returns their exit statuses.
std::vector<int> run_workers(int world, const std::string& out_dir,
                             const std::vector<std::string>& args, double deadline_s = 120) {
  const int n = world == 0 ? 1 : world;
  const int port = mmhook::dist::find_free_port();
  std::vector<std::string> argv{MMHOOK_DIST_WORKER, out_dir};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (world > 0) {
        setenv("RANK", std::to_string(r).c_str(), 1);
        setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
        setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
        setenv("MASTER_ADDR", "127.0.0.1", 1);
        setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      } else {
        unsetenv("RANK");
      }
      execv(cargv[0], cargv.data());
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes(n, -1);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(deadline_s);
  int left = n;
  while (left > 0) {
    for (int r = 0; r < n; ++r) {
      if (pids[r] <= 0) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        codes[r] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pids[r] = -1;
        --left;
      }
    }
    if (std::chrono::steady_clock::now() > end) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      ADD_FAILURE() << "workers did not finish within " << deadline_s << " s";
      for (pid_t p : pids)
        if (p > 0) waitpid(p, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return codes;
}

nlohmann::json result(const std::string& out_dir, int rank) {
  std::ifstream in(out_dir + "/rank" + std::to_string(rank) + ".json");
  EXPECT_TRUE(in.good()) << "rank " << rank << " wrote no result in " << out_dir;
  if (!in) return nlohmann::json::object();
  return nlohmann::json::parse(in);
}

std::vector<double> state(const nlohmann::json& r) {
  return r.contains("state") ? r["state"].get<std::vector<double>>() : std::vector<double>{};
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

// -- two processes -------------------------------------------------------------------------------

TEST(DistTrainTest, TwoRanksEqualOneProcessOnConcatenatedBatches) {
  TempDir two, one;
  EXPECT_EQ(run_workers(2, two.path(), {"batch=4", "epochs=2"}), (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(0, one.path(), {"batch=8", "epochs=2"}), (std::vector<int>{0}));
  const nlohmann::json r0 = result(two.path(), 0), r1 = result(two.path(), 1);
  const nlohmann::json single = result(one.path(), 0);
  EXPECT_EQ(r0["world_size"], 2);
  EXPECT_EQ(r1["rank"], 1);
  EXPECT_EQ(r0["iter"], 12);  // 48 samples / (2 ranks x 4) = 6 iterations per epoch
  ASSERT_FALSE(state(r0).empty());
  EXPECT_EQ(state(r0), state(r1)) << "parameters differ between ranks";
  EXPECT_LT(max_abs_diff(state(r0), state(single)), 1e-6);
  EXPECT_EQ(single["iter"], 12);  // 48 / 8
  // One bucketed gradient all-reduce per iteration.
  EXPECT_EQ(r0["comm_calls"], 12);
}

TEST(DistTrainTest, GradientAccumulationSyncsOnlyOnUpdates) {
  TempDir two, one;
  EXPECT_EQ(run_workers(2, two.path(), {"batch=4", "epochs=2", "acc=2"}), (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(0, one.path(), {"batch=8", "epochs=2", "acc=2"}), (std::vector<int>{0}));
  const nlohmann::json r0 = result(two.path(), 0), r1 = result(two.path(), 1);
  EXPECT_EQ(state(r0), state(r1));
  EXPECT_LT(max_abs_diff(state(r0), state(result(one.path(), 0))), 1e-6);
  // 12 backwards, 6 updates: the 6 accumulating backwards do not communicate (no_sync).
  EXPECT_EQ(r0["comm_calls"], 6);
}

TEST(DistTrainTest, OverlappedAndAfterBackwardReductionsAgreeExactly) {
  // hidden=64 with a 0.5 KiB cap: each of the 4 parameters (2048, 256, 768 and 12 bytes) gets a
  // bucket of its own, so several buckets go out during backward.
  TempDir overlap, after, one;
  const std::vector<std::string> args{"batch=4", "epochs=2", "hidden=64", "bucket_cap_mb=0.0005"};
  auto with = [&](const std::string& extra) {
    std::vector<std::string> a = args;
    a.push_back(extra);
    return a;
  };
  EXPECT_EQ(run_workers(2, overlap.path(), with("overlap=1")), (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(2, after.path(), with("overlap=0")), (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(0, one.path(), {"batch=8", "epochs=2", "hidden=64"}),
            (std::vector<int>{0}));
  const nlohmann::json r0 = result(overlap.path(), 0);
  ASSERT_FALSE(state(r0).empty());
  EXPECT_EQ(state(r0), state(result(overlap.path(), 1)));
  // The same sums in the same precision: bit-identical, whatever the bucket layout.
  EXPECT_EQ(state(r0), state(result(after.path(), 0)));
  EXPECT_LT(max_abs_diff(state(r0), state(result(one.path(), 0))), 1e-6);
  // 12 iterations x 4 buckets.
  EXPECT_EQ(r0["comm_calls"], 48);
  EXPECT_EQ(result(after.path(), 0)["comm_calls"], 48);
}

TEST(DistTrainTest, UnusedParameterIsAnErrorNamingItOnEveryRank) {
  TempDir dir;
  EXPECT_EQ(run_workers(2, dir.path(), {"unused=1", "timeout=20"}, 60), (std::vector<int>{1, 1}));
  for (int r = 0; r < 2; ++r) {
    const std::string err = result(dir.path(), r).value("error", "");
    EXPECT_NE(err.find("parameter 'unused' received no gradient"), std::string::npos) << err;
    EXPECT_NE(err.find("env_cfg.dist_cfg.find_unused_parameters=true"), std::string::npos) << err;
  }
}

TEST(DistTrainTest, FindUnusedParametersTrainsLikeOneProcess) {
  TempDir two, one;
  EXPECT_EQ(run_workers(2, two.path(), {"unused=1", "find_unused=1", "batch=4"}),
            (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(0, one.path(), {"unused=1", "batch=8"}), (std::vector<int>{0}));
  const nlohmann::json r0 = result(two.path(), 0);
  ASSERT_FALSE(state(r0).empty());
  EXPECT_EQ(state(r0), state(result(two.path(), 1)));
  EXPECT_LT(max_abs_diff(state(r0), state(result(one.path(), 0))), 1e-6);
}

TEST(DistTrainTest, LinkDelayKnobSlowsEveryCollective) {
  // 12 iterations, one bucket each: at least 12 x 150 ms in collectives with the knob.
  TempDir slow, bad;
  EXPECT_EQ(run_workers(2, slow.path(), {"delay_ms=150"}), (std::vector<int>{0, 0}));
  const nlohmann::json r0 = result(slow.path(), 0);
  EXPECT_EQ(r0["comm_calls"], 12);
  EXPECT_GE(r0["comm_seconds"].get<double>(), 12 * 0.15 - 0.05);
  EXPECT_EQ(run_workers(2, bad.path(), {"delay_ms=fast"}, 60), (std::vector<int>{1, 1}));
  const std::string err = result(bad.path(), 0).value("error", "");
  EXPECT_NE(err.find("MMHOOK_DIST_DELAY_MS: expected milliseconds"), std::string::npos) << err;
  EXPECT_NE(err.find("'fast'"), std::string::npos) << err;
}

TEST(DistConfigTest, DifferentConfigsFailOnEveryRankNamingTheKey) {
  TempDir dir;
  EXPECT_EQ(run_workers(2, dir.path(), {"epochs_rank1=3", "timeout=20"}, 60),
            (std::vector<int>{1, 1}));
  for (int r = 0; r < 2; ++r) {
    const std::string err = result(dir.path(), r).value("error", "");
    EXPECT_NE(err.find("the config differs across ranks: 'train_cfg.max_epochs' is 2 on rank 0 "
                       "and 3 on rank 1"),
              std::string::npos)
        << err;
  }
}

TEST(DistConfigTest, PerRankWorkDirsAreNotADifference) {
  TempDir dir;
  EXPECT_EQ(run_workers(2, dir.path(), {"work_dir_per_rank=1", "epochs=1"}),
            (std::vector<int>{0, 0}));
  EXPECT_EQ(result(dir.path(), 1)["iter"], 6);
}

TEST(DistTrainTest, ResumeOfTwoRanksIsExact) {
  TempDir full, part;
  EXPECT_EQ(run_workers(2, full.path(), {"epochs=3"}), (std::vector<int>{0, 0}));
  const std::string work = part / "work";
  EXPECT_EQ(run_workers(2, part.path(), {"epochs=2", "work_dir=" + work}),
            (std::vector<int>{0, 0}));
  ASSERT_TRUE(fs::exists(work + "/epoch_2.pth"));
  ASSERT_TRUE(fs::exists(work + "/last_checkpoint"));
  EXPECT_EQ(run_workers(2, part.path(), {"epochs=3", "resume=1", "work_dir=" + work}),
            (std::vector<int>{0, 0}));
  const nlohmann::json resumed = result(part.path(), 1);
  EXPECT_EQ(resumed["iter"], result(full.path(), 1)["iter"]);
  EXPECT_EQ(state(resumed), state(result(full.path(), 1)));
  EXPECT_EQ(state(result(part.path(), 0)), state(result(full.path(), 0)));
}

TEST(DistTrainTest, RanksThatWouldResumeFromDifferentPointsFailNamingThem) {
  // Per-rank work dirs that are not shared: only rank 0 writes checkpoints, so on `resume:
  // "auto"` rank 0 would continue at iteration 12 and rank 1 start over.
  TempDir dir;
  EXPECT_EQ(run_workers(2, dir.path(), {"work_dir_per_rank=1", "epochs=2"}),
            (std::vector<int>{0, 0}));
  ASSERT_TRUE(fs::exists(dir / "work0/epoch_2.pth"));
  ASSERT_FALSE(fs::exists(dir / "work1/epoch_2.pth"));
  EXPECT_EQ(
      run_workers(2, dir.path(), {"work_dir_per_rank=1", "epochs=3", "resume=2", "timeout=20"}, 60),
      (std::vector<int>{1, 1}));
  for (int r = 0; r < 2; ++r) {
    const nlohmann::json res = result(dir.path(), r);
    const std::string err = res.value("error", "");
    EXPECT_NE(err.find("resume: the ranks would continue from different points: 'resume point' "
                       "is iteration 12 (epoch 2) on rank 0 and the beginning (no checkpoint) on "
                       "rank 1"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("work0/epoch_2.pth'"), std::string::npos) << err;
    EXPECT_LT(res["seconds"].get<double>(), 15.0) << "failed by the timeout, not the check";
  }
}

TEST(DistTrainTest, AResumeThatFailsOnOneRankFailsEveryRankAtOnce) {
  // An explicit resume on a rank without a checkpoint is an error there; its peer, which found
  // one, must not wait for it until the timeout.
  TempDir dir;
  EXPECT_EQ(run_workers(2, dir.path(), {"work_dir_per_rank=1", "epochs=1"}),
            (std::vector<int>{0, 0}));
  EXPECT_EQ(
      run_workers(2, dir.path(), {"work_dir_per_rank=1", "epochs=2", "resume=1", "timeout=20"}, 60),
      (std::vector<int>{1, 1}));
  const std::string own = result(dir.path(), 1).value("error", "");
  EXPECT_NE(own.find("resume: no checkpoint in '"), std::string::npos) << own;
  EXPECT_NE(own.find("work1' to resume from"), std::string::npos) << own;
  const nlohmann::json peer = result(dir.path(), 0);
  EXPECT_NE(peer.value("error", "").find("resume failed on rank 1: resume: no checkpoint in '"),
            std::string::npos)
      << peer.dump();
  EXPECT_LT(peer["seconds"].get<double>(), 15.0) << "failed by the timeout, not the check";
}

TEST(DistTrainTest, StopRequestOnOneRankStopsEveryRankAfterTheSameIteration) {
  // Rank 1 alone asks to stop in after_train_iter of iteration 3 (0-based), after that
  // iteration's vote went out: both ranks stop after the next one, with the same weights, and
  // both report the interruption. Alone, the stop comes right after iteration 3.
  TempDir two, one;
  EXPECT_EQ(run_workers(2, two.path(), {"epochs=2", "stop_rank=1", "stop_iter=3"}),
            (std::vector<int>{0, 0}));
  const nlohmann::json r0 = result(two.path(), 0), r1 = result(two.path(), 1);
  EXPECT_EQ(r0["iter"], 5);
  EXPECT_EQ(r1["iter"], 5);
  EXPECT_EQ(r0["interrupted"], true);
  EXPECT_EQ(r1["interrupted"], true);
  EXPECT_EQ(r0["stop_requested"], true);  // rank 0 was told by the vote
  EXPECT_EQ(state(r0), state(r1));
  // The epoch-length check and one vote before the first iteration, one per iteration; none
  // in the data figures.
  EXPECT_EQ(r0["votes"], 7);
  EXPECT_EQ(r0["comm_calls"], 5);
  EXPECT_EQ(run_workers(0, one.path(), {"epochs=2", "stop_rank=0", "stop_iter=3"}),
            (std::vector<int>{0}));
  EXPECT_EQ(result(one.path(), 0)["iter"], 4);
  EXPECT_EQ(result(one.path(), 0)["interrupted"], true);
  EXPECT_EQ(result(one.path(), 0)["votes"], 0);
}

TEST(DistTrainTest, EveryRankVotesOncePerIterationAndEpoch) {
  // 2 epochs of 6 iterations without a stop: 12 votes in flight with the steps, the
  // epoch-length check and 1 vote before the loop, 1 after each epoch; the ranks run to the end.
  TempDir two;
  EXPECT_EQ(run_workers(2, two.path(), {"epochs=2"}), (std::vector<int>{0, 0}));
  const nlohmann::json r0 = result(two.path(), 0);
  EXPECT_EQ(r0["iter"], 12);
  EXPECT_EQ(r0["interrupted"], false);
  EXPECT_EQ(r0["votes"], 16);
}

TEST(DistConfigTest, UnevenShardsFailOnEveryRankNamingTheirEpochLengths) {
  // 49 samples without padding: rank 0 gets 25 (7 batches of 4), rank 1 24 (6). Rank 0's
  // seventh iteration would wait for a rank 1 that has left the epoch; both fail at once instead.
  TempDir dir;
  EXPECT_EQ(run_workers(2, dir.path(), {"samples=49", "round_up=0"}, 60), (std::vector<int>{1, 1}));
  for (int rank : {0, 1}) {
    const nlohmann::json r = result(dir.path(), rank);
    const std::string err = r.value("error", "");
    EXPECT_NE(err.find("different numbers of iterations per epoch (rank 0: 7, rank 1: 6 batches"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("sampler.round_up"), std::string::npos) << err;
    EXPECT_LT(r["seconds"].get<double>(), 20.0);
  }
  // 48 samples split evenly: the same settings train.
  TempDir even;
  EXPECT_EQ(run_workers(2, even.path(), {"samples=48", "round_up=0"}), (std::vector<int>{0, 0}));
}

TEST(DistTrainTest, SyncBuffersHookAveragesBatchNormStatistics) {
  TempDir synced, unsynced;
  EXPECT_EQ(run_workers(2, synced.path(), {"bn=1", "sync_buffers=1", "epochs=1"}),
            (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(2, unsynced.path(), {"bn=1", "epochs=1"}), (std::vector<int>{0, 0}));
  // Ranks see different batches, so their running statistics differ unless synchronised.
  EXPECT_EQ(state(result(synced.path(), 0)), state(result(synced.path(), 1)));
  EXPECT_NE(state(result(unsynced.path(), 0)), state(result(unsynced.path(), 1)));
}

TEST(DistEvalTest, MetricsAreGatheredFromAllRanks) {
  // 50 samples: 25 per rank in batches of 4 (uneven last batches); accuracy over all 50.
  TempDir two, one;
  EXPECT_EQ(run_workers(2, two.path(), {"val=1", "samples=50"}), (std::vector<int>{0, 0}));
  EXPECT_EQ(run_workers(0, one.path(), {"val=1", "samples=50"}), (std::vector<int>{0}));
  const nlohmann::json single = result(one.path(), 0)["metrics"];
  ASSERT_TRUE(single.contains("accuracy/top1"));
  EXPECT_EQ(result(two.path(), 0)["metrics"], single);
  EXPECT_EQ(result(two.path(), 1)["metrics"], single);
}

TEST(DistFailureTest, RankThatExitsMakesThePeerFailWithinTheTimeout) {
  TempDir dir;
  const auto codes = run_workers(2, dir.path(), {"die_rank=1", "die_iter=3", "timeout=20"}, 60);
  EXPECT_EQ(codes, (std::vector<int>{1, 3}));
  const nlohmann::json r0 = result(dir.path(), 0);
  const std::string err = r0.value("error", "");
  EXPECT_NE(err.find("rank 0 of 2"), std::string::npos) << err;
  EXPECT_NE(err.find("rank 1 (pid"), std::string::npos) << err;
  EXPECT_NE(err.find("has exited"), std::string::npos) << err;
  EXPECT_LT(r0["seconds"].get<double>(), 20.0);
}

TEST(DistFailureTest, RankThatRaisesIsNamedWithItsErrorByThePeer) {
  TempDir dir;
  const auto codes = run_workers(2, dir.path(), {"raise_rank=1", "raise_iter=2", "timeout=20"}, 60);
  EXPECT_EQ(codes, (std::vector<int>{1, 1}));
  const std::string err0 = result(dir.path(), 0).value("error", "");
  const std::string err1 = result(dir.path(), 1).value("error", "");
  EXPECT_NE(err1.find("FaultHook raised on purpose"), std::string::npos) << err1;
  EXPECT_NE(err0.find("rank 1 failed: rank 1: "), std::string::npos) << err0;
  EXPECT_NE(err0.find("FaultHook raised on purpose"), std::string::npos) << err0;
}

#ifdef MMHOOK_CLI
TEST(DistLaunchTest, MmhookLaunchTrainsWithTwoProcesses) {
  TempDir dir;
  const std::string cmd = std::string(MMHOOK_CLI) + " launch --nproc-per-node 2 -- train " +
                          MMHOOK_SOURCE_DIR + "/configs/toy.json --work-dir " + dir.path() +
                          " --cfg-options train_cfg.max_epochs=2 > " + (dir / "out.txt") + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(fs::exists(dir / "epoch_2.pth"));
  std::ifstream log(dir / "out.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("data parallel: 2 processes"), std::string::npos) << text;
}

TEST(DistLaunchTest, MmhookLaunchFailsWhenARankFails) {
  TempDir dir;
  // A type error in the config: every rank fails; launch reports it and fails.
  const std::string cmd = std::string(MMHOOK_CLI) + " launch --nproc-per-node 2 -- train " +
                          MMHOOK_SOURCE_DIR + "/configs/toy.json --work-dir " + dir.path() +
                          " --cfg-options train_cfg.max_epochs='\"two\"' > " + (dir / "out.txt") +
                          " 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  std::ifstream log(dir / "out.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("mmhook launch: rank"), std::string::npos) << text;
}
#endif  // MMHOOK_CLI

// -- sampler shards
// --------------------------------------------------------------------------------

TEST(DistSamplerTest, ShardsAreDisjointAndCoverTheDatasetEveryEpoch) {
  for (int64_t n : {48, 50, 7}) {
    for (int64_t world : {2, 3}) {
      for (int64_t epoch = 0; epoch < 3; ++epoch) {
        std::vector<int64_t> all;
        std::set<int64_t> seen;
        for (int64_t r = 0; r < world; ++r) {
          mmhook::DefaultSampler s(n, true, 7, true, r, world);
          const auto idx = s.epoch_indices(epoch);
          EXPECT_EQ(static_cast<int64_t>(idx.size()), (n + world - 1) / world);
          all.insert(all.end(), idx.begin(), idx.end());
          seen.insert(idx.begin(), idx.end());
        }
        // Every index appears; only the round-up padding (total - n) repeats.
        EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << n << " " << world;
        EXPECT_EQ(static_cast<int64_t>(all.size()) - n, (world - n % world) % world);
        for (int64_t i : seen) EXPECT_TRUE(i >= 0 && i < n);
      }
    }
  }
}

TEST(DistSamplerTest, RoundUpFalseShardsPartitionTheDataset) {
  std::vector<int64_t> all;
  for (int64_t r = 0; r < 3; ++r) {
    mmhook::DefaultSampler s(50, true, 1, false, r, 3);
    const auto idx = s.epoch_indices(0);
    EXPECT_EQ(static_cast<int64_t>(idx.size()), s.size());
    all.insert(all.end(), idx.begin(), idx.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(50);
  for (int64_t i = 0; i < 50; ++i) expected[i] = i;
  EXPECT_EQ(all, expected);
}

TEST(DistSamplerTest, SetEpochChangesTheOrderReproducibly) {
  mmhook::DefaultSampler a(48, true, 0, true, 1, 2), b(48, true, 0, true, 1, 2);
  auto read = [](mmhook::Sampler& s) {
    std::vector<int64_t> out;
    auto stream = s.indices();
    mmhook::SampleRef ref;
    while (stream->next(&ref)) out.push_back(ref.index);
    return out;
  };
  a.set_epoch(0);
  const auto e0 = read(a);
  a.set_epoch(1);
  const auto e1 = read(a);
  EXPECT_NE(e0, e1);
  b.set_epoch(1);
  EXPECT_EQ(read(b), e1);  // same seed and epoch: same order, on every run and rank object
  // Same as torch.randperm(48, generator=manual_seed(0 + 1))[1::2].
  const at::Tensor perm =
      torch::randperm(48, at::make_generator<at::CPUGeneratorImpl>(1), torch::kInt64);
  std::vector<int64_t> expected;
  for (int64_t j = 1; j < 48; j += 2) expected.push_back(perm[j].item<int64_t>());
  EXPECT_EQ(e1, expected);
}

// -- environment and in-process group
// --------------------------------------------------------------

namespace {
struct EnvGuard {
  std::vector<std::string> names;
  explicit EnvGuard(std::vector<std::string> n) : names(std::move(n)) {
    for (const auto& x : names) unsetenv(x.c_str());
  }
  ~EnvGuard() {
    for (const auto& x : names) unsetenv(x.c_str());
  }
};
}  // namespace

TEST(DistEnvTest, PytorchLauncherReadsTorchrunVariables) {
  EnvGuard g({"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"});
  try {
    (void)mmhook::dist::read_launch_env("pytorch");
    ADD_FAILURE() << "no error without RANK";
  } catch (const mmhook::Error& e) {
    EXPECT_NE(std::string(e.what()).find("RANK is not set"), std::string::npos) << e.what();
  }
  setenv("RANK", "3", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "10.0.0.5", 1);
  setenv("MASTER_PORT", "1234", 1);
  const auto env = mmhook::dist::read_launch_env("pytorch");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "10.0.0.5");
  EXPECT_EQ(env.master_port, 1234);
  setenv("RANK", "4", 1);
  EXPECT_THROW((void)mmhook::dist::read_launch_env("pytorch"), mmhook::Error);
  setenv("RANK", "x", 1);
  EXPECT_THROW((void)mmhook::dist::read_launch_env("pytorch"), mmhook::Error);
}

TEST(DistEnvTest, SlurmLauncherReadsSlurmVariablesAndTheFirstNode) {
  EnvGuard g({"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODELIST",
              "SLURM_STEP_NODELIST", "MASTER_ADDR", "MASTER_PORT"});
  setenv("SLURM_PROCID", "5", 1);
  setenv("SLURM_NTASKS", "8", 1);
  setenv("SLURM_LOCALID", "1", 1);
  setenv("SLURM_NODELIST", "gpu[07-09,12],cpu1", 1);
  const auto env = mmhook::dist::read_launch_env("slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "gpu07");
  EXPECT_EQ(env.master_port, 29500);
  EXPECT_EQ(mmhook::dist::first_slurm_host("node3,node4"), "node3");
  EXPECT_EQ(mmhook::dist::first_slurm_host("single"), "single");
}

TEST(DistEnvTest, WithoutAProcessGroupEverythingIsRankZeroOfOne) {
  ASSERT_FALSE(mmhook::dist::is_distributed());
  EXPECT_EQ(mmhook::dist::get_rank(), 0);
  EXPECT_EQ(mmhook::dist::get_world_size(), 1);
  at::Tensor t = torch::arange(4, torch::kFloat);
  mmhook::dist::all_reduce(t, mmhook::dist::ReduceOp::kMean);
  mmhook::dist::broadcast(t, 0);
  mmhook::dist::barrier();
  EXPECT_TRUE(t.equal(torch::arange(4, torch::kFloat)));
  const nlohmann::json value = {{"a", 1}};
  const std::vector<nlohmann::json> gathered = mmhook::dist::all_gather_object(value);
  ASSERT_EQ(gathered.size(), 1u);
  EXPECT_EQ(gathered[0], value);
}

TEST(DistEnvTest, NcclWithoutCudaAndUnknownBackendsAreClearErrors) {
  mmhook::dist::LaunchEnv env;
  env.master_port = mmhook::dist::find_free_port();
  mmhook::dist::DistOptions opt;
  opt.backend = "nccl";
  try {
    mmhook::dist::init_process_group(env, opt);
    mmhook::dist::destroy_process_group();
    GTEST_SKIP() << "this LibTorch has NCCL";
  } catch (const mmhook::Error& e) {
    EXPECT_NE(std::string(e.what()).find("use 'gloo'"), std::string::npos) << e.what();
  }
  opt.backend = "mpi";
  EXPECT_THROW(mmhook::dist::init_process_group(env, opt), mmhook::Error);
  EXPECT_FALSE(mmhook::dist::is_distributed());
}

TEST(DistEnvTest, WorldSizeOneProcessGroupInitialisesOnceAndDestroys) {
  mmhook::dist::LaunchEnv env;
  env.master_port = mmhook::dist::find_free_port();
  mmhook::dist::DistOptions opt;
  opt.timeout = std::chrono::milliseconds(10000);
  mmhook::dist::init_process_group(env, opt);
  EXPECT_TRUE(mmhook::dist::is_distributed());
  EXPECT_EQ(mmhook::dist::backend(), "gloo");
  EXPECT_THROW(mmhook::dist::init_process_group(env, opt), mmhook::Error);
  mmhook::dist::destroy_process_group();
  EXPECT_FALSE(mmhook::dist::is_distributed());
  EXPECT_EQ(mmhook::dist::get_world_size(), 1);
}
