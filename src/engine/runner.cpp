// The Runner: construction in MMEngine's `Runner.__init__` order, the train/val/test flow with
// its failure handling, and the accessors. Each part is made by its own builder
// (runner_builders.h and the builders of each area); checkpoints are in runner_checkpoint.cpp.

#include "mmhook/engine/runner.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>
#include <ATen/core/Tensor.h>

#include "engine/runner_builders.h"
#include "engine/runner_impl.h"
#include "mmhook/config/json_parse.h"
#include "mmhook/core/detailed_error.h"
#include "mmhook/core/exception_info.h"
#include "mmhook/core/file_io.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/dist/config_check.h"
#include "mmhook/dist/dist.h"
#include "mmhook/dist/grad_sync.h"
#include "mmhook/dist/reducer.h"
#include "mmhook/engine/env_setup.h"
#include "mmhook/engine/loops.h"
#include "mmhook/logging/log_processor.h"
#include "mmhook/logging/message_hub.h"
#include "mmhook/logging/vis_backend_registry.h"
#include "mmhook/model/base_model.h"
#include "mmhook/optim/optim_wrapper.h"
#include "mmhook/optim/optimizer_builder.h"
#include "mmhook/scheduler/param_scheduler.h"
#include "mmhook/scheduler/scheduler_builder.h"

namespace fs = std::filesystem;

namespace mmhook {

std::string make_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d_%H%M%S", &tm);
  return buf;
}

namespace {

// The long form of a DetailedError (a traceback), or "" for any other exception.
std::string error_detail(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const DetailedError& e) {
    return e.detail();
  } catch (...) {
    return "";
  }
}

bool is_distributed_error(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const Error& e) {
    return e.code() == Code::kDistributed;
  } catch (...) {
    return false;
  }
}

// Two runs in one work_dir would interleave their logs and overwrite each other's checkpoints:
// rank 0 locks it (every rank of a data-parallel job shares it) and all ranks fail together
// when it is taken, instead of the others waiting in a collective for a rank that gave up.
std::unique_ptr<WorkDirLock> lock_work_dir(const std::string& work_dir) {
  std::unique_ptr<WorkDirLock> lock;
  std::string error;
  int code = 0;
  if (dist::get_rank() == 0) {
    try {
      std::error_code ec;
      fs::create_directories(work_dir, ec);
      if (ec) MMHOOK_THROW(Code::kIo, "work_dir: cannot create '", work_dir, "': ", ec.message());
      lock = std::make_unique<WorkDirLock>(work_dir);
    } catch (const Error& e) {
      error = e.what();
      code = static_cast<int>(e.code());
    }
  }
  const nlohmann::json outcome = dist::broadcast_object({{"error", error}, {"code", code}});
  if (outcome["error"].get<std::string>().empty()) return lock;
  MMHOOK_THROW(static_cast<Code>(outcome["code"].get<int>()),
               dist::get_rank() == 0 ? "" : "rank 0: ", outcome["error"].get<std::string>());
}

// A hook (or another thread) calling train/val/test or registering a hook during a run would
// re-enter the loops or change the hook lists the dispatcher is iterating over.
void check_not_running(bool running, const char* what) {
  MMHOOK_CHECK_CODE(!running, Code::kFailedPrecondition, what,
                    " is not allowed while the runner is running (called from a hook?)");
}

// DDP's start: rank 0's parameters and buffers everywhere, then gradients averaged on each
// synchronising backward (per wrapper, over the parameters its optimiser updates): overlapped
// with backward by a Reducer, or after it by a GradientSync (`env_cfg.dist_cfg.overlap`).
void start_data_parallel(BaseModel& model, OptimWrapper& ow, const RunnerConfig& c) {
  dist::broadcast_module_states(model, 0);
  std::unordered_map<const void*, std::string> names;
  for (const auto& item : model.named_parameters())
    names.emplace(item.value().unsafeGetTensorImpl(), item.key());
  auto attach = [&](OptimWrapper& w) {
    std::vector<at::Tensor> params;
    std::vector<std::string> param_names;
    for (const auto& group : w.optimizer().param_groups()) {
      for (const auto& p : group.params()) {
        params.push_back(p);
        const auto it = names.find(p.unsafeGetTensorImpl());
        param_names.push_back(it != names.end() ? it->second
                                                : "#" + std::to_string(params.size() - 1));
      }
    }
    if (c.overlap_grad_sync) {
      auto reducer =
          std::make_shared<dist::Reducer>(std::move(params), std::move(param_names), c.grad_sync);
      w.set_grad_sync(
          GradSyncCallbacks{[reducer](bool sync) { reducer->prepare_for_backward(sync); },
                            [reducer](bool) { reducer->finalize_backward(); }});
    } else {
      const auto cap = static_cast<int64_t>(c.grad_sync.bucket_cap_mb * 1024 * 1024);
      auto sync = std::make_shared<dist::GradientSync>(std::move(params), cap);
      w.set_grad_sync([sync] { sync->sync(); });
    }
  };
  if (auto* dict = dynamic_cast<OptimWrapperDict*>(&ow)) {
    for (const auto& kv : dict->items()) attach(*kv.second);
  } else {
    attach(ow);
  }
  dist::reset_comm_stats();
}

}  // namespace

Runner::Impl::Impl(RunnerConfig config) : cfg(std::move(config)) {}

// MMEngine's `Runner.__init__` order (docs/design.md §B3.1), except that nothing is written to
// disk until the whole config is checked and the model and hooks are built: a bad config
// leaves no files behind.
Runner::Runner(const nlohmann::json& cfg, const std::string& cfg_path)
    : impl_(std::make_unique<Impl>(parse_runner_config(cfg, cfg_path))) {
  Impl& m = *impl_;
  const RunnerConfig& c = m.cfg;
  // The environment: the process group first, as the seed and timestamp come from rank 0.
  apply_env_settings(c.env, m.dispatcher);
  if (c.launcher != "none" && !dist::is_distributed()) dist::init_dist(c.launcher, c.dist);
  // Ranks with different configs would train different things, or hang in mismatched
  // collectives: all fail at once, naming the first key that differs. work_dir may be a
  // per-machine (or per-rank) path; only rank 0 writes there.
  nlohmann::json compared = c.raw;
  if (compared.is_object()) compared.erase("work_dir");
  dist::check_config_across_ranks(compared);
  m.timestamp = dist::broadcast_object(make_timestamp()).get<std::string>();
  m.seed = set_random_seed(c.seed, c.diff_rank_seed, c.deterministic);
  if (!c.experiment_name.empty()) {
    m.experiment_name = c.experiment_name + "_" + m.timestamp;
  } else if (!c.cfg_path.empty()) {
    m.experiment_name = fs::path(c.cfg_path).stem().string() + "_" + m.timestamp;
  } else {
    m.experiment_name = m.timestamp;
  }
  m.log_dir = c.work_dir + "/" + m.timestamp;
  m.log_processor = std::make_unique<LogProcessor>(LogProcessor::from_config(*c.log_processor));
  m.model = model_registry().build(*c.model);
  register_hooks(*this, c.hooks);

  // A write past `ulimit -f` fails with EFBIG (reported like a full disk) instead of SIGXFSZ
  // ending the process silently: the text log and scalars are written before any checkpoint.
  ignore_sigxfsz_once();
  m.work_dir_lock = lock_work_dir(c.work_dir);
  std::error_code ec;
  fs::create_directories(m.log_dir, ec);
  if (ec) MMHOOK_THROW(Code::kIo, "work_dir: cannot create '", m.log_dir, "': ", ec.message());
  m.log = std::make_unique<RunLogger>(m.log_dir, m.timestamp, rank(), c.log_level);
  if (m.work_dir_lock && !m.work_dir_lock->unsupported().empty())
    logger().warn("work_dir is not locked against a second run (" + m.work_dir_lock->unsupported() +
                  ": " + m.work_dir_lock->path() + ")");
  m.message_hub = std::make_unique<MessageHub>(m.experiment_name);
  if (rank() == 0)  // visualizer backends are master-only
    m.vis_backends = build_vis_backends(c.vis_backends, {m.log_dir, m.timestamp});
  logger().info("Hooks will be executed in the following order:\n" + get_hooks_info());

  // Dump the config as given.
  const std::string dump_name =
      c.cfg_path.empty() ? m.timestamp + ".json" : fs::path(c.cfg_path).filename().string();
  if (rank() == 0) std::ofstream(c.work_dir + "/" + dump_name) << c.raw.dump(2) << "\n";
  for (auto& b : m.vis_backends) b->add_config(c.raw.dump(2));
}

std::unique_ptr<Runner> Runner::from_file(const std::string& path) {
  const nlohmann::json cfg = parse_config_file(path);
  return std::make_unique<Runner>(cfg, path);
}

Runner::~Runner() = default;

// -- hooks -------------------------------------------------------------------------------------

void Runner::register_hook(std::shared_ptr<Hook> hook, std::optional<int> priority) {
  MMHOOK_CHECK(hook != nullptr, "register_hook: hook should be an instance of Hook, got null");
  check_not_running(impl_->running, "register_hook");
  impl_->dispatcher.add(hook, priority ? *priority : hook->default_priority());
}

void Runner::register_hook(const nlohmann::json& hook_cfg, std::optional<int> priority) {
  BuiltHook built = build_hook(ConfigValue{hook_cfg, "hook"}, priority);
  register_hook(std::move(built.hook), built.priority);
}

const std::vector<std::shared_ptr<Hook>>& Runner::hooks() const {
  return impl_->dispatcher.hooks();
}
Hook* Runner::find_hook(const std::string& name) const { return impl_->dispatcher.find(name); }
std::string Runner::get_hooks_info() const { return impl_->dispatcher.hooks_info(); }
void Runner::call_hook(Stage stage, const StageArgs& args) {
  impl_->dispatcher.call(stage, *this, args);
}
Dispatcher& Runner::dispatcher() { return impl_->dispatcher; }

// -- counters ----------------------------------------------------------------------------------

int64_t Runner::epoch() const { return impl_->train_loop ? impl_->train_loop->epoch() : 0; }
int64_t Runner::iter() const { return impl_->train_loop ? impl_->train_loop->iter() : 0; }
int64_t Runner::max_epochs() const {
  return impl_->train_loop ? impl_->train_loop->max_epochs() : 0;
}
int64_t Runner::max_iters() const { return impl_->train_loop ? impl_->train_loop->max_iters() : 0; }

// -- components, built on first use as MMEngine does ------------------------------------------

BaseModel& Runner::model() { return *impl_->model; }

OptimWrapper& Runner::optim_wrapper() {
  Impl& m = *impl_;
  if (!m.optim_wrapper) {
    if (!m.cfg.optim_wrapper)
      MMHOOK_THROW(Code::kFailedPrecondition, "optim_wrapper should not be None");
    m.optim_wrapper = build_optim_wrapper(*m.cfg.optim_wrapper, *m.model);
    MessageHub* hub = m.message_hub.get();
    m.optim_wrapper->set_scalar_sink(
        [hub](const std::string& key, double value) { hub->update_scalar(key, value); });
  }
  return *m.optim_wrapper;
}

bool Runner::has_optim_wrapper() const { return impl_->optim_wrapper != nullptr; }

std::vector<std::shared_ptr<ParamScheduler>>& Runner::param_schedulers() {
  return impl_->param_schedulers;
}

TrainLoop& Runner::train_loop() {
  if (!impl_->train_loop) impl_->train_loop = build_train_loop(*this, impl_->cfg);
  return *impl_->train_loop;
}

EvalLoop& Runner::val_loop() {
  if (!impl_->val_loop) impl_->val_loop = build_eval_loop(*this, impl_->cfg.val, false);
  return *impl_->val_loop;
}

EvalLoop& Runner::test_loop() {
  if (!impl_->test_loop) impl_->test_loop = build_eval_loop(*this, impl_->cfg.test, true);
  return *impl_->test_loop;
}

bool Runner::train_loop_built() const { return impl_->train_loop != nullptr; }
bool Runner::val_loop_built() const { return impl_->val_loop != nullptr; }
bool Runner::test_loop_built() const { return impl_->test_loop != nullptr; }
bool Runner::has_val_loop() const { return impl_->cfg.val.configured(); }
bool Runner::has_test_loop() const { return impl_->cfg.test.configured(); }
MessageHub& Runner::message_hub() { return *impl_->message_hub; }
LogProcessor& Runner::log_processor() { return *impl_->log_processor; }
std::vector<std::shared_ptr<VisBackend>>& Runner::vis_backends() { return impl_->vis_backends; }
spdlog::logger& Runner::logger() { return impl_->log->logger(); }
void Runner::check_log_errors() { impl_->log->check_errors(); }
const std::string& Runner::work_dir() const { return impl_->cfg.work_dir; }
const std::string& Runner::log_dir() const { return impl_->log_dir; }
const std::string& Runner::timestamp() const { return impl_->timestamp; }
const std::string& Runner::experiment_name() const { return impl_->experiment_name; }
int64_t Runner::seed() const { return impl_->seed; }
const nlohmann::json& Runner::cfg() const { return impl_->cfg.raw; }
const RunnerConfig& Runner::config() const { return impl_->cfg; }
int Runner::rank() const { return dist::get_rank(); }
int Runner::world_size() const { return dist::get_world_size(); }
void Runner::request_stop() noexcept { stop_requested_.store(true, std::memory_order_relaxed); }
bool Runner::stop_requested() const noexcept {
  return stop_requested_.load(std::memory_order_relaxed);
}
const std::string& Runner::current_error() const { return impl_->current_error; }
const Metrics& Runner::last_metrics() const { return impl_->last_metrics; }
void Runner::record_metrics(const Metrics& metrics) { impl_->last_metrics = metrics; }

// -- run flow ----------------------------------------------------------------------------------

void Runner::run_guarded(const std::function<void()>& body) {
  Impl& m = *impl_;
  m.running = true;
  struct Done {
    Impl& m;
    ~Done() { m.running = false; }
  } done{m};
  stop_requested_.store(false);
  m.in_after_run = false;
  try {
    body();
  } catch (...) {
    std::exception_ptr first = std::current_exception();
    m.current_error = describe_exception(first).message;
    if (world_size() > 1 && !is_distributed_error(first)) {
      // Peers name this rank in their own errors (a collective with it will fail).
      m.current_error = "rank " + std::to_string(rank()) + ": " + m.current_error;
      dist::report_failure(m.current_error);
    }
    logger().error(m.current_error);
    const std::string detail = error_detail(first);
    if (!detail.empty()) m.log->write_to_file_only(detail);  // the console keeps one line
    StageArgs args;
    args.message = &m.current_error;
    // Every hook's on_exception and after_run runs, whichever of them fail.
    for (const std::string& e : m.dispatcher.call_each(Stage::kOnException, *this, args))
      logger().error("error in on_exception while handling a failure: " + e);
    if (!m.in_after_run) {
      for (const std::string& e : m.dispatcher.call_each(Stage::kAfterRun, *this, {}))
        logger().error("error in after_run while handling a failure: " + e);
    }
    logger().flush();
    std::rethrow_exception(first);
  }
}

void Runner::finish_run() {
  impl_->in_after_run = true;
  call_hook(Stage::kAfterRun);
  check_log_errors();
}

// MMEngine's `auto_scale_lr`: lr × (world size × batch size) / base_batch_size.
void Runner::scale_lr() {
  Impl& m = *impl_;
  if (!m.cfg.auto_scale_lr_base_batch_size) return;
  const int64_t base = *m.cfg.auto_scale_lr_base_batch_size;
  MMHOOK_CHECK_CODE(!m.schedulers_built, Code::kFailedPrecondition,
                    "auto_scale_lr must run before the parameter schedulers are built");
  const int64_t batch = world_size() * train_loop().dataloader().batch_size();
  const double ratio = static_cast<double>(batch) / static_cast<double>(base);
  OptimWrapper& ow = optim_wrapper();
  for (size_t g = 0; g < ow.num_param_groups(); ++g)
    ow.set_group_value(g, "lr", ow.get_group_value(g, "lr") * ratio);
  logger().info("LR is set based on batch size of " + std::to_string(base) +
                " and the current batch size is " + std::to_string(batch) +
                ". Scaling the original LR by " + std::to_string(ratio) + ".");
}

void Runner::build_param_schedulers() {
  Impl& m = *impl_;
  if (m.schedulers_built) return;
  m.schedulers_built = true;
  if (!m.cfg.param_scheduler) return;
  TrainLoop& loop = train_loop();
  m.param_schedulers = mmhook::build_param_schedulers(
      m.cfg.param_scheduler->value, m.cfg.param_scheduler->path, optim_wrapper(),
      loop.dataloader().size(), loop.max_epochs(), loop.max_iters());
}

void Runner::train() {
  Impl& m = *impl_;
  check_not_running(m.running, "Runner::train");
  TrainLoop& loop = train_loop();
  OptimWrapper& ow = optim_wrapper();
  scale_lr();
  build_param_schedulers();
  if (has_val_loop()) (void)val_loop();
  run_guarded([&] {
    call_hook(Stage::kBeforeRun);
    m.model->init_weights();
    load_or_resume();
    ow.initialize_count_status(*m.model, loop.iter(), loop.max_iters());
    if (world_size() > 1) start_data_parallel(*m.model, ow, m.cfg);
    loop.run();
    if (world_size() > 1) {
      const dist::CommStats st = dist::comm_stats();
      logger().info("data parallel: " + std::to_string(world_size()) + " processes, " +
                    std::to_string(st.calls) + " collectives, " + std::to_string(st.seconds) +
                    " s in collectives");
    }
    finish_run();
  });
}

Metrics Runner::val() {
  check_not_running(impl_->running, "Runner::val");
  return evaluate(val_loop());
}

Metrics Runner::test() {
  check_not_running(impl_->running, "Runner::test");
  return evaluate(test_loop());
}

Metrics Runner::evaluate(EvalLoop& loop) {
  Metrics metrics;
  run_guarded([&] {
    call_hook(Stage::kBeforeRun);
    load_or_resume();
    metrics = loop.run();
    finish_run();
  });
  return metrics;
}

}  // namespace mmhook
