#include "mmhook/engine/loops.h"

#include <algorithm>
#include <string>

#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/cuda.h>

#include "mmhook/core/tensor_dict.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/data/dataset.h"
#include "mmhook/data/sampler.h"
#include "mmhook/dist/dist.h"
#include "mmhook/engine/runner.h"
#include "mmhook/evaluator/evaluator.h"
#include "mmhook/evaluator/metric.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {

BaseLoop::BaseLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader)
    : runner_(runner), dataloader_(std::move(dataloader)) {
  MMHOOK_CHECK(dataloader_ != nullptr, "a loop needs a data loader");
}
BaseLoop::~BaseLoop() = default;

TrainLoop::TrainLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader, int64_t val_begin,
                     int64_t val_interval,
                     const std::vector<std::pair<int64_t, int64_t>>& dynamic_intervals)
    : BaseLoop(runner, std::move(dataloader)), val_begin_(val_begin), val_interval_(val_interval) {
  MMHOOK_CHECK(val_interval > 0, "val_interval must be > 0, got ", val_interval);
  milestones_.push_back(0);
  intervals_.push_back(val_interval);
  int64_t prev = 0;
  for (const auto& [milestone, interval] : dynamic_intervals) {
    MMHOOK_CHECK(milestone > prev || (milestones_.size() == 1 && milestone >= 0),
                 "dynamic_intervals milestones must be increasing, got ", milestone);
    MMHOOK_CHECK(interval > 0, "dynamic_intervals interval must be > 0, got ", interval);
    milestones_.push_back(milestone);
    intervals_.push_back(interval);
    prev = milestone;
  }
}

void TrainLoop::decide_val_interval(int64_t progress) {
  // bisect_right(milestones, progress) - 1
  const auto it = std::upper_bound(milestones_.begin(), milestones_.end(), progress);
  val_interval_ = intervals_[static_cast<size_t>(it - milestones_.begin()) - 1];
}

bool TrainLoop::should_stop() const { return stop_training || runner_.stop_requested(); }

namespace {

// A data-parallel run's stop vote: [stop requested, stop_training] of this rank, summed over
// the ranks. A rank that left the loop alone would leave the others waiting in their next
// collective until the timeout, so every rank stops on the summed flags.
// A vote's tensor where the backend reduces it: NCCL reduces device tensors only.
at::Tensor on_comm_device(at::Tensor t) {
  if (dist::backend() == "nccl") return t.to(at::Device(at::kCUDA, dist::get_local_rank()));
  return t;
}

at::Tensor stop_ballot(bool requested, bool training) {
  return on_comm_device(
      at::tensor({static_cast<int64_t>(requested), static_cast<int64_t>(training)},
                 at::TensorOptions().dtype(at::kLong)));
}

// Reads a summed ballot and applies it to this rank: every rank then holds what any rank asked
// for (Runner::stop_requested() is read by hooks and by the mmhook command after training).
template <class Vote>
Vote count_votes(const at::Tensor& ballot, Runner& runner, bool& stop_training) {
  const at::Tensor sums = ballot.cpu();
  Vote vote;
  vote.requested = sums.data_ptr<int64_t>()[0] > 0;
  vote.training = sums.data_ptr<int64_t>()[1] > 0;
  if (vote.requested) runner.request_stop();
  if (vote.training) stop_training = true;
  return vote;
}

// Data parallel: every rank must run as many iterations per epoch as the others, or their
// collectives stop pairing up (a rank in an extra iteration waits for peers that have left the
// epoch). A sampler with round_up false on a dataset the world size does not divide, or data
// that differs across machines, breaks that: every rank fails here, naming each rank's count.
// The counts travel as a vote (each rank fills its own slot of a summed tensor).
void check_equal_epochs(DataLoader& loader) {
  const int world = dist::get_world_size();
  if (world <= 1) return;
  at::Tensor counts = at::zeros({world}, at::TensorOptions().dtype(at::kLong));
  counts.data_ptr<int64_t>()[dist::get_rank()] = loader.size();
  counts = on_comm_device(counts);
  dist::vote_async(counts).wait();
  const at::Tensor all = counts.cpu();
  const int64_t* c = all.data_ptr<int64_t>();
  bool equal = true;
  std::string listed;
  for (int r = 0; r < world; ++r) {
    equal = equal && c[r] == c[0];
    listed += (r > 0 ? ", rank " : "rank ") + std::to_string(r) + ": " + std::to_string(c[r]);
  }
  if (equal) return;
  MMHOOK_THROW(Code::kConfig,
               "train_dataloader: the ranks would run different numbers of iterations per epoch (",
               listed, " batches; this rank's dataset has ", loader.dataset().size(),
               " samples), so their collectives could not pair up. Keep "
               "train_dataloader.sampler.round_up true (the default: every shard is padded to "
               "the same length), or give every rank the same data");
}

}  // namespace

TrainLoop::StopVote TrainLoop::agree_stop() {
  if (dist::get_world_size() <= 1) return StopVote{runner_.stop_requested(), stop_training};
  at::Tensor ballot = stop_ballot(runner_.stop_requested(), stop_training);
  dist::vote_async(ballot).wait();
  return count_votes<StopVote>(ballot, runner_, stop_training);
}

void TrainLoop::run_iter(int64_t batch_idx, const TensorDict& batch) {
  StageArgs args;
  args.batch_idx = batch_idx;
  args.data_batch = &batch;
  runner_.call_hook(Stage::kBeforeTrainIter, args);
  // Data parallel: the stop vote travels while the step computes (issued here, before the
  // gradient all-reduces, in the same order on every rank), so it costs no waiting.
  const bool distributed = dist::get_world_size() > 1;
  at::Tensor ballot;
  dist::PendingCollective vote;
  if (distributed) {
    ballot = stop_ballot(runner_.stop_requested(), stop_training);
    vote = dist::vote_async(ballot);
  }
  const TensorDict outputs = runner_.model().train_step(batch, runner_.optim_wrapper());
  args.outputs = &outputs;
  runner_.call_hook(Stage::kAfterTrainIter, args);
  ++iter_;
  if (distributed) {
    vote.wait();
    last_vote_ = count_votes<StopVote>(ballot, runner_, stop_training);
  } else {
    last_vote_ = StopVote{runner_.stop_requested(), stop_training};
  }
}

// -- EpochBasedTrainLoop ------------------------------------------------------------------------

EpochBasedTrainLoop::EpochBasedTrainLoop(
    Runner& runner, std::shared_ptr<DataLoader> dataloader, int64_t max_epochs, int64_t val_begin,
    int64_t val_interval, const std::vector<std::pair<int64_t, int64_t>>& dynamic_intervals)
    : TrainLoop(runner, std::move(dataloader), val_begin, val_interval, dynamic_intervals) {
  MMHOOK_CHECK(max_epochs > 0, "max_epochs must be > 0, got ", max_epochs);
  max_epochs_ = max_epochs;
  const int64_t per_epoch = dataloader_->size();
  MMHOOK_CHECK(!__builtin_mul_overflow(max_epochs, per_epoch, &max_iters_), "max_epochs ",
               max_epochs, " x ", per_epoch,
               " iterations per epoch overflows the 64-bit iteration counter");
}

void EpochBasedTrainLoop::run() {
  runner_.call_hook(Stage::kBeforeTrain);
  // A run stopped mid-epoch (a signal, request_stop, a by-iteration checkpoint) is resumed with
  // counters inside an epoch: that epoch continues at its next batch, in the same sample order,
  // so the resumed run trains exactly the batches an uninterrupted run would.
  int64_t skip = batches_done_in_epoch();
  interrupted_ = false;
  check_equal_epochs(*dataloader_);
  StopVote stop = agree_stop();
  while (epoch_ < max_epochs_ && !stop.any()) {
    const bool finished = run_epoch(skip);
    skip = 0;
    stop = finished ? agree_stop() : last_vote_;
    if (stop.requested) break;  // interrupted: no validation
    decide_val_interval(epoch_ + 1);
    if (runner_.has_val_loop() && epoch_ >= val_begin_ &&
        (epoch_ % val_interval_ == 0 || epoch_ == max_epochs_)) {
      runner_.val_loop().run();
      stop = agree_stop();
    }
  }
  interrupted_ = stop.requested;
  runner_.call_hook(Stage::kAfterTrain);
}

int64_t EpochBasedTrainLoop::batches_done_in_epoch() {
  // Every finished epoch ran dataloader_->size() iterations, so the iterations beyond them are
  // the current epoch's. Counters that do not fit (a checkpoint of an older version that
  // restarted interrupted epochs, or a data loader resized since) restart the epoch.
  const int64_t per_epoch = dataloader_->size();
  const int64_t done = iter_ - epoch_ * per_epoch;
  if (done == 0 || epoch_ >= max_epochs_) return 0;
  if (done < 0 || done > per_epoch) {
    runner_.logger().warn("iteration " + std::to_string(iter_) + " does not fall inside epoch " +
                          std::to_string(epoch_ + 1) + " (" + std::to_string(per_epoch) +
                          " batches per epoch): the epoch restarts at its first batch");
    return 0;
  }
  runner_.logger().info("Resuming epoch " + std::to_string(epoch_ + 1) + " at batch " +
                        std::to_string(done) + " of " + std::to_string(per_epoch) +
                        ": the batches already trained are skipped");
  return done;
}

bool EpochBasedTrainLoop::run_epoch(int64_t skip_batches) {
  runner_.call_hook(Stage::kBeforeTrainEpoch);
  runner_.model().train();
  // The sampler skips the trained batches without loading them; batch_idx stays the position
  // within the epoch.
  auto it = dataloader_->iterate(skip_batches);
  TensorDict batch;
  int64_t idx = skip_batches;
  while (it->next(&batch)) {
    run_iter(idx++, batch);
    if (last_vote_.requested) return false;  // a graceful stop ends after this iteration
  }
  it.reset();
  runner_.call_hook(Stage::kAfterTrainEpoch);
  ++epoch_;
  return true;
}

// -- IterBasedTrainLoop -------------------------------------------------------------------------

IterBasedTrainLoop::IterBasedTrainLoop(
    Runner& runner, std::shared_ptr<DataLoader> dataloader, int64_t max_iters, int64_t val_begin,
    int64_t val_interval, const std::vector<std::pair<int64_t, int64_t>>& dynamic_intervals)
    : TrainLoop(runner, std::move(dataloader), val_begin, val_interval, dynamic_intervals) {
  MMHOOK_CHECK(max_iters > 0, "max_iters must be > 0, got ", max_iters);
  max_epochs_ = 1;
  max_iters_ = max_iters;
}

void IterBasedTrainLoop::run() {
  runner_.call_hook(Stage::kBeforeTrain);
  runner_.call_hook(Stage::kBeforeTrainEpoch);
  // MMEngine's _InfiniteDataloaderIterator: a finite sampler restarts with set_epoch(pass);
  // a resumed run skips the seen batches at the sampler level instead of loading them.
  if (iter_ > 0) {
    runner_.logger().warn("Advance dataloader " + std::to_string(iter_) +
                          " steps to skip data that has already been trained");
  }
  Runner& runner = runner_;
  std::unique_ptr<BatchIterator> it = dataloader_->iterate_infinite(iter_, [&runner](int64_t) {
    runner.logger().warn(
        "Reach the end of the dataloader, it will be restarted and continue to iterate. It is "
        "recommended to use `mmengine.dataset.InfiniteSampler` to enable the dataloader to "
        "iterate infinitely.");
  });
  TensorDict batch;
  interrupted_ = false;
  StopVote stop = agree_stop();
  while (iter_ < max_iters_ && !stop.any()) {
    runner_.model().train();
    if (!it->next(&batch))
      MMHOOK_THROW(Code::kFailedPrecondition, "the train dataloader yields no batch");
    run_iter(iter_, batch);
    stop = last_vote_;
    if (stop.requested) break;  // interrupted: no validation, as in the epoch loop
    decide_val_interval(iter_ + 1);
    if (runner_.has_val_loop() && iter_ >= val_begin_ &&
        (iter_ % val_interval_ == 0 || iter_ == max_iters_)) {
      runner_.val_loop().run();
      stop = agree_stop();
    }
  }
  interrupted_ = stop.requested;
  it.reset();
  runner_.call_hook(Stage::kAfterTrainEpoch);
  runner_.call_hook(Stage::kAfterTrain);
}

// -- ValLoop / TestLoop -------------------------------------------------------------------------

EvalLoop::EvalLoop(Runner& runner, std::shared_ptr<DataLoader> dataloader,
                   std::shared_ptr<Evaluator> evaluator, bool test, bool fp16)
    : BaseLoop(runner, std::move(dataloader)),
      evaluator_(std::move(evaluator)),
      test_(test),
      fp16_(fp16) {
  MMHOOK_CHECK(evaluator_ != nullptr, "a val/test loop needs an evaluator");
}
EvalLoop::~EvalLoop() = default;

namespace {
// Autocast for fp16 evaluation: bfloat16 on CPU, float16 on CUDA (MMEngine's defaults).
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    prev_cpu_ = at::autocast::is_cpu_enabled();
    prev_cuda_ = at::autocast::is_enabled();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    if (torch::cuda::is_available()) at::autocast::set_enabled(true);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_cpu_enabled(prev_cpu_);
    at::autocast::set_enabled(prev_cuda_);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
  bool prev_cpu_ = false;
  bool prev_cuda_ = false;
};
}  // namespace

Metrics EvalLoop::run() {
  const Stage before = test_ ? Stage::kBeforeTest : Stage::kBeforeVal;
  const Stage before_epoch = test_ ? Stage::kBeforeTestEpoch : Stage::kBeforeValEpoch;
  const Stage before_iter = test_ ? Stage::kBeforeTestIter : Stage::kBeforeValIter;
  const Stage after_iter = test_ ? Stage::kAfterTestIter : Stage::kAfterValIter;
  const Stage after_epoch = test_ ? Stage::kAfterTestEpoch : Stage::kAfterValEpoch;
  const Stage after = test_ ? Stage::kAfterTest : Stage::kAfterVal;
  const std::string loss_prefix = test_ ? "test" : "val";

  interrupted_ = false;
  runner_.call_hook(before);
  runner_.call_hook(before_epoch);
  BaseModel& model = runner_.model();
  model.eval();
  // Per-name running sums of losses a val_step returns ("loss*" keys), as MMEngine's loops do.
  OrderedMap<std::pair<double, int64_t>> losses;
  int64_t idx = 0;
  {
    auto it = dataloader_->iterate();
    TensorDict batch;
    while (it->next(&batch)) {
      StageArgs args;
      args.batch_idx = idx;
      args.data_batch = &batch;
      runner_.call_hook(before_iter, args);
      TensorDict outputs;
      {
        at::NoGradGuard no_grad;
        AutocastScope autocast(fp16_);
        outputs = test_ ? model.test_step(batch) : model.val_step(batch);
      }
      for (const auto& [key, value] : outputs) {
        if (key.find("loss") == std::string::npos || !value.defined()) continue;
        auto* acc = losses.find(key);
        const double v = value.detach().to(at::kDouble).mean().item<double>();
        if (acc == nullptr) {
          losses.set(key, {v, 1});
        } else {
          acc->first += v;
          acc->second += 1;
        }
      }
      evaluator_->process(batch, outputs);
      args.outputs = &outputs;
      runner_.call_hook(after_iter, args);
      ++idx;
      // A stop request (a signal during validation inside training) is honoured between
      // batches rather than after the whole pass.
      // Data parallel: every rank finishes the pass (a rank leaving it alone would leave the
      // others waiting in the metrics' gather); the train loop's vote stops them together.
      if (runner_.stop_requested() && idx < dataloader_->size() && dist::get_world_size() <= 1) {
        interrupted_ = true;
        break;
      }
    }
  }
  if (interrupted_) {
    // Metrics of part of the data would pass for the real ones (best checkpoints, early
    // stopping, ReduceOnPlateau): none are computed or recorded. after_*_epoch still runs with
    // empty metrics so hooks undo what they did at before_*_epoch (EMAHook swaps weights back);
    // metric consumers see `interrupted()`.
    for (const auto& metric : evaluator_->metrics()) metric->reset();
    runner_.logger().warn(std::string(test_ ? "test" : "validation") + " interrupted after " +
                          std::to_string(idx) + " of " + std::to_string(dataloader_->size()) +
                          " batches: no metrics recorded");
    Metrics none;
    StageArgs args;
    args.metrics = &none;
    runner_.call_hook(after_epoch, args);
    runner_.call_hook(after);
    return none;
  }
  Metrics metrics = evaluator_->evaluate(dataloader_->dataset().size());
  if (!losses.empty()) {
    double total = 0;
    for (const auto& [key, acc] : losses) {
      const double mean = acc.first / static_cast<double>(acc.second);
      metrics.set(key, mean);
      total += mean;
    }
    metrics.set(loss_prefix + "_loss", total);
  }
  runner_.record_metrics(metrics);
  StageArgs args;
  args.metrics = &metrics;
  runner_.call_hook(after_epoch, args);
  runner_.call_hook(after);
  return metrics;
}

// -- registries ---------------------------------------------------------------------------------

namespace {
std::vector<std::pair<int64_t, int64_t>> read_dynamic_intervals(const ConfigNode& cfg) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (!cfg.has("dynamic_intervals")) {
    cfg.mark_used("dynamic_intervals");
    return out;
  }
  const nlohmann::json list = cfg.require<nlohmann::json>("dynamic_intervals");
  if (!list.is_array())
    cfg.fail("dynamic_intervals", "expected list of [milestone, interval] pairs");
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& p = list[i];
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer())
      cfg.fail("dynamic_intervals[" + std::to_string(i) + "]",
               "expected [milestone, interval] integers, got " + p.dump());
    out.emplace_back(p[0].get<int64_t>(), p[1].get<int64_t>());
  }
  return out;
}

}  // namespace

Registry<TrainLoop, Runner&, std::shared_ptr<DataLoader>>& train_loop_registry() {
  static auto* registry = [] {
    auto* r = new Registry<TrainLoop, Runner&, std::shared_ptr<DataLoader>>(
        "train loop", FactoryErrors::kConfigAtPath);
    r->add("EpochBasedTrainLoop",
           [](const ConfigNode& cfg, Runner& runner,
              std::shared_ptr<DataLoader> loader) -> std::shared_ptr<TrainLoop> {
             const int64_t max_epochs = cfg.require<int64_t>("max_epochs");
             const int64_t val_begin = cfg.get<int64_t>("val_begin", 1);
             const int64_t val_interval = cfg.get<int64_t>("val_interval", 1);
             auto dyn = read_dynamic_intervals(cfg);
             return std::make_shared<EpochBasedTrainLoop>(runner, loader, max_epochs, val_begin,
                                                          val_interval, dyn);
           });
    r->add("IterBasedTrainLoop",
           [](const ConfigNode& cfg, Runner& runner,
              std::shared_ptr<DataLoader> loader) -> std::shared_ptr<TrainLoop> {
             const int64_t max_iters = cfg.require<int64_t>("max_iters");
             const int64_t val_begin = cfg.get<int64_t>("val_begin", 1);
             const int64_t val_interval = cfg.get<int64_t>("val_interval", 1000);
             auto dyn = read_dynamic_intervals(cfg);
             return std::make_shared<IterBasedTrainLoop>(runner, loader, max_iters, val_begin,
                                                         val_interval, dyn);
           });
    return r;
  }();
  return *registry;
}

Registry<EvalLoop, Runner&, std::shared_ptr<DataLoader>, std::shared_ptr<Evaluator>, bool>&
eval_loop_registry() {
  using R =
      Registry<EvalLoop, Runner&, std::shared_ptr<DataLoader>, std::shared_ptr<Evaluator>, bool>;
  static R* registry = [] {
    auto* r = new R("eval loop");
    auto factory = [](const ConfigNode& cfg, Runner& runner, std::shared_ptr<DataLoader> loader,
                      std::shared_ptr<Evaluator> evaluator,
                      bool test) -> std::shared_ptr<EvalLoop> {
      const bool fp16 = cfg.get<bool>("fp16", false);
      return std::make_shared<EvalLoop>(runner, loader, evaluator, test, fp16);
    };
    r->add("ValLoop", factory);
    r->add("TestLoop", factory);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
