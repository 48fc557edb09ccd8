#include "mmhook/dist/dist.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include <c10/util/Exception.h>
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1  // ProcessGroupGloo.hpp declares the class only under this define
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>
#include <torch/version.h>
#ifdef MMHOOK_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"

namespace mmhook {
namespace dist {
namespace {

// LibTorch 2.x splits ProcessGroup into a dispatching ProcessGroup and per-device Backends;
// the concrete Gloo/NCCL classes derive from Backend there, from ProcessGroup in 1.x. Both
// bases declare the same virtual collectives.
#if TORCH_VERSION_MAJOR >= 2
using PgBase = c10d::Backend;
#else
using PgBase = c10d::ProcessGroup;
#endif

using Clock = std::chrono::steady_clock;

struct Peer {
  std::string host;
  long pid = 0;
};

struct State {
  LaunchEnv env;
  DistOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<PgBase> pg;
  std::vector<Peer> peers;
  std::string host;
  std::string broken;  // the first collective failure; later collectives fail at once
  CommStats stats;
  double delay_ms = 0;            // MMHOOK_DIST_DELAY_MS
  Clock::time_point link_free{};  // when the simulated link has carried every issued collective
};

std::unique_ptr<State> g_state;
std::mutex g_mutex;  // serialises collectives issued from several threads

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "?";
  return buf;
}

// A process that is gone, or a zombie its parent has not reaped yet, has exited.
bool process_alive(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return true;
  const char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

std::string error_text(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

// Resolves MASTER_ADDR within `timeout_s` (getaddrinfo has no timeout of its own: an
// unresolvable name hung the rendezvous far beyond dist_cfg.timeout). The lookup runs on a
// detached thread that owns its inputs, so giving up on it leaves nothing dangling.
std::string resolve_error(const std::string& host, double timeout_s) {
  struct Lookup {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    int rc = 0;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (res != nullptr) freeaddrinfo(res);
    std::lock_guard<std::mutex> lock(lookup->mutex);
    lookup->rc = rc;
    lookup->done = true;
    lookup->done_cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(lookup->mutex);
  if (!lookup->done_cv.wait_for(lock, std::chrono::duration<double>(timeout_s),
                                [&] { return lookup->done; }))
    return "MASTER_ADDR '" + host + "' could not be resolved within the timeout";
  if (lookup->rc != 0)
    return "MASTER_ADDR '" + host + "' cannot be resolved: " + gai_strerror(lookup->rc);
  return "";
}

std::string seconds_text(double s) {
  std::ostringstream os;
  os.precision(3);
  os << s << " s";
  return os.str();
}

// Who failed first: ranks that reported an error in the store, then ranks on this machine
// whose process has exited, else the store's own reachability. A peer that is exiting closes its
// sockets before its process is gone (exit handlers, a leak check, a core dump): with no cause
// found yet, the peers get up to 3 s to show one.
std::string diagnose_once(State& s, bool* store_ok_out);
std::string diagnose(State& s) {
  bool store_ok = true;
  std::string found = diagnose_once(s, &store_ok);
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (found.empty() && store_ok && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    found = diagnose_once(s, &store_ok);
  }
  if (!found.empty()) return found;
  if (!store_ok)
    return "the TCPStore of rank 0 at " + s.env.master_addr + ":" +
           std::to_string(s.env.master_port) + " is unreachable (rank 0 has exited?)";
  return "no peer reported an error (a peer on another machine exited, or the ranks are out of "
         "step)";
}

std::string diagnose_once(State& s, bool* store_ok_out) {
  std::string found;
  bool store_ok = true;
  for (int r = 0; r < s.env.world_size; ++r) {
    if (r == s.env.rank) continue;
    const std::string key = "mmhook/error/" + std::to_string(r);
    try {
      if (s.store->check({key})) {
        const std::vector<uint8_t> v = s.store->get(key);
        found += (found.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) +
                 " failed: " + std::string(v.begin(), v.end());
      }
    } catch (const std::exception&) {
      store_ok = false;
      break;
    }
  }
  for (int r = 0; r < static_cast<int>(s.peers.size()); ++r) {
    if (r == s.env.rank || s.peers[r].host != s.host) continue;
    if (!process_alive(s.peers[r].pid))
      found += (found.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " (pid " +
               std::to_string(s.peers[r].pid) + ") has exited";
  }
  *store_ok_out = store_ok;
  return found;
}

State& require_state() { return *g_state; }

// Which ranks have not set their peer key: "rank 1 never joined", or the store's own error.
std::string missing_ranks(c10d::Store& store, const std::vector<std::string>& peer_keys) {
  std::vector<int> missing;
  try {
    for (size_t r = 0; r < peer_keys.size(); ++r)
      if (!store.check({peer_keys[r]})) missing.push_back(static_cast<int>(r));
  } catch (const std::exception& e) {
    return "the TCPStore became unreachable (rank 0 has exited?): " + error_text(e);
  }
  if (missing.empty()) return "every rank joined, but the store did not answer in time";
  std::string out = missing.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < missing.size() && i < 16; ++i)
    out += (i ? ", " : "") + std::to_string(missing[i]);
  if (missing.size() > 16) out += " and " + std::to_string(missing.size() - 16) + " more";
  return out + " never joined (" + std::to_string(peer_keys.size() - missing.size()) + " of " +
         std::to_string(peer_keys.size()) + " ranks did)";
}

// MMHOOK_DIST_DELAY_MS, checked: a typo must not silently benchmark a fast link.
double read_delay_ms() {
  const char* v = std::getenv("MMHOOK_DIST_DELAY_MS");
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const double ms = std::strtod(v, &end);
  MMHOOK_CHECK_CODE(end != v && *end == '\0' && ms >= 0 && ms <= 60000, Code::kConfig,
                    "MMHOOK_DIST_DELAY_MS: expected milliseconds in [0, 60000], got '", v, "'");
  return ms;
}

// Books `n` collectives on the simulated link (under g_mutex) and returns when they are
// through: each takes delay_ms after the link is free.
Clock::time_point reserve_link(State& s, Clock::time_point issued, size_t n) {
  if (s.delay_ms <= 0) return issued;
  const auto start = std::max(issued, s.link_free);
  s.link_free = start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double, std::milli>(s.delay_ms * n));
  return s.link_free;
}

void check_not_broken(const State& s, const char* what) {
  MMHOOK_CHECK_CODE(s.broken.empty(), Code::kDistributed, "rank ", s.env.rank, " of ",
                    s.env.world_size, ": ", what,
                    " after an earlier failure of the process group: ", s.broken);
}

// Records the first failure of the process group and throws it, naming the failed peer.
[[noreturn]] void fail_collective(State& s, const char* what, Clock::time_point t0,
                                  const std::exception& e) {
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  s.broken = std::string(what) + " failed after " + seconds_text(waited) + " (timeout " +
             seconds_text(s.options.timeout.count() / 1000.0) + "): " + diagnose(s) +
             " [c10d: " + error_text(e) + "]";
  MMHOOK_THROW(Code::kDistributed, "rank ", s.env.rank, " of ", s.env.world_size, ": ", s.broken);
}

// Runs one collective: issues it, waits under the timeout, accounts its time, and turns a
// failure into an Error naming this rank, the collective and the failed peer.
template <class Issue>
void run_collective(const char* what, int64_t bytes, Issue&& issue) {
  State& s = require_state();
  check_not_broken(s, what);
  const auto t0 = Clock::now();
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works = issue(*s.pg);
    const auto through = reserve_link(s, t0, works.size());
    for (auto& w : works) w->wait(s.options.timeout);
    std::this_thread::sleep_until(through);
    s.stats.calls += static_cast<int64_t>(works.size());
  } catch (const std::exception& e) {
    fail_collective(s, what, t0, e);
  }
  s.stats.bytes += bytes;
  s.stats.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

bool single() { return !g_state || g_state->env.world_size == 1; }

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    default: return c10d::ReduceOp::SUM;
  }
}

std::string dump_bytes(const nlohmann::json& value) { return value.dump(); }

}  // namespace

namespace detail {
// One issued collective: the c10d work, the tensor it reduces (kept alive until the wait) and
// when the simulated link has carried it.
struct PendingState {
  c10::intrusive_ptr<c10d::Work> work;
  at::Tensor tensor;
  Clock::time_point through;
  bool done = false;
  bool vote = false;  // vote_async: not in calls/seconds/bytes
};
}  // namespace detail

// -- process group -----------------------------------------------------------------------------

void init_process_group(const LaunchEnv& env, const DistOptions& options) {
  std::lock_guard<std::mutex> lock(g_mutex);
  MMHOOK_CHECK_CODE(!g_state, Code::kFailedPrecondition,
                    "init_process_group: a process group exists already (rank ", g_state->env.rank,
                    " of ", g_state->env.world_size, ")");
  MMHOOK_CHECK_CODE(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
                    Code::kInvalidArgument, "init_process_group: rank ", env.rank,
                    " is not in [0, ", env.world_size, ")");
  MMHOOK_CHECK_CODE(options.timeout.count() > 0, Code::kInvalidArgument,
                    "env_cfg.dist_cfg.timeout must be > 0, got ", options.timeout.count() / 1000.0);
  if (options.backend == "nccl") {
#ifndef MMHOOK_WITH_NCCL
    MMHOOK_THROW(Code::kInvalidArgument,
                 "env_cfg.dist_cfg.backend: 'nccl' needs a LibTorch built with CUDA and NCCL; this "
                 "mmhook was built against a CPU-only LibTorch: use 'gloo'");
#endif
  } else if (options.backend != "gloo") {
    MMHOOK_THROW(Code::kInvalidArgument,
                 "env_cfg.dist_cfg.backend: expected 'gloo' or 'nccl', got '", options.backend,
                 "'");
  }
  auto s = std::make_unique<State>();
  s->env = env;
  s->options = options;
  s->delay_ms = read_delay_ms();
  s->host = hostname();
  const double timeout_s = options.timeout.count() / 1000.0;
  const auto rendezvous_start = std::chrono::steady_clock::now();
  auto elapsed_s = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - rendezvous_start)
        .count();
  };
  const std::string unresolved = resolve_error(env.master_addr, timeout_s);
  if (!unresolved.empty())
    MMHOOK_THROW(Code::kDistributed, "rank ", env.rank, " of ", env.world_size,
                 ": rendezvous failed after ", seconds_text(elapsed_s()), " (timeout ",
                 seconds_text(timeout_s), "): ", unresolved);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.world_size);
    // The ranks are counted through their peer keys below, which names the missing ones.
    so.waitWorkers = false;
    so.timeout = options.timeout;
    s->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    MMHOOK_THROW(
        Code::kDistributed, "rank ", env.rank, " of ", env.world_size,
        ": rendezvous at the TCPStore ", env.master_addr, ":", env.master_port,
        " (MASTER_ADDR:MASTER_PORT) failed after ", seconds_text(elapsed_s()), " (timeout ",
        seconds_text(timeout_s), "): ",
        env.rank == 0 ? std::string() : "rank 0, which hosts it, never joined or is unreachable: ",
        error_text(e));
  }
  const std::string me = s->host + " " + std::to_string(static_cast<long>(getpid()));
  std::vector<std::string> peer_keys;
  peer_keys.reserve(env.world_size);
  for (int r = 0; r < env.world_size; ++r) peer_keys.push_back("mmhook/peer/" + std::to_string(r));
  try {
    s->store->set(peer_keys[env.rank], std::vector<uint8_t>(me.begin(), me.end()));
    const auto left = options.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - rendezvous_start);
    s->store->wait(peer_keys, std::max(left, std::chrono::milliseconds(1)));
  } catch (const std::exception& e) {
    MMHOOK_THROW(Code::kDistributed, "rank ", env.rank, " of ", env.world_size,
                 ": rendezvous failed after ", seconds_text(elapsed_s()), " (timeout ",
                 seconds_text(timeout_s), "): ", missing_ranks(*s->store, peer_keys),
                 " [c10d: ", error_text(e), "]");
  }
  try {
    if (options.backend == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(options.timeout);
      const char* ifname_env = std::getenv("GLOO_SOCKET_IFNAME");
      const std::string ifname = ifname_env != nullptr ? ifname_env : "";
      const std::string& a = env.master_addr;
      if (!ifname.empty()) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (a == "127.0.0.1" || a == "localhost" || a == "::1") {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(a));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      s->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(s->store, env.rank, env.world_size, opts);
    }
#ifdef MMHOOK_WITH_NCCL
    if (options.backend == "nccl") {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = options.timeout;
      s->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(s->store, env.rank, env.world_size, opts);
    }
#endif
    s->peers.resize(env.world_size);
    for (int r = 0; r < env.world_size; ++r) {
      const std::vector<uint8_t> v = s->store->get("mmhook/peer/" + std::to_string(r));
      std::istringstream in(std::string(v.begin(), v.end()));
      in >> s->peers[r].host >> s->peers[r].pid;
    }
  } catch (const std::exception& e) {
    MMHOOK_THROW(Code::kDistributed, "rank ", env.rank, " of ", env.world_size, ": creating the ",
                 options.backend, " process group failed: ", error_text(e));
  }
  g_state = std::move(s);
}

void init_dist(const std::string& launcher, const DistOptions& options) {
  init_process_group(read_launch_env(launcher), options);
}

void destroy_process_group() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_state.reset();
}

bool is_distributed() { return g_state != nullptr; }
int get_rank() { return g_state ? g_state->env.rank : 0; }
int get_world_size() { return g_state ? g_state->env.world_size : 1; }
int get_local_rank() { return g_state ? g_state->env.local_rank : 0; }
std::string backend() { return g_state ? g_state->options.backend : std::string(); }

// -- collectives -------------------------------------------------------------------------------

void all_reduce(at::Tensor& tensor, ReduceOp op) {
  if (single()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  at::Tensor t = tensor.is_contiguous() ? tensor : tensor.contiguous();
  run_collective("allreduce", t.numel() * t.element_size(), [&](PgBase& pg) {
    std::vector<at::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = to_c10d(op);
    return std::vector<c10::intrusive_ptr<c10d::Work>>{pg.allreduce(v, o)};
  });
  if (op == ReduceOp::kMean) t.div_(g_state->env.world_size);
  if (!t.is_same(tensor)) tensor.copy_(t);
}

void all_reduce_many(std::vector<at::Tensor>& tensors) {
  if (single() || tensors.empty()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  int64_t bytes = 0;
  for (auto& t : tensors) {
    MMHOOK_CHECK(t.is_contiguous(), "all_reduce_many: tensors must be contiguous");
    bytes += t.numel() * t.element_size();
  }
  run_collective("allreduce", bytes, [&](PgBase& pg) {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<at::Tensor> v{t};
      works.push_back(pg.allreduce(v));
    }
    return works;
  });
}

PendingCollective::PendingCollective(std::shared_ptr<detail::PendingState> state)
    : state_(std::move(state)) {}

bool PendingCollective::pending() const { return state_ && !state_->done; }

void PendingCollective::wait() {
  if (!pending()) return;
  detail::PendingState& p = *state_;
  MMHOOK_CHECK_CODE(g_state != nullptr, Code::kFailedPrecondition,
                    "PendingCollective::wait: the process group was destroyed before the wait");
  State& s = *g_state;
  const auto t0 = Clock::now();
  try {
    p.work->wait(s.options.timeout);
  } catch (const std::exception& e) {
    p.done = true;
    std::lock_guard<std::mutex> lock(g_mutex);
    fail_collective(s, "allreduce", t0, e);
  }
  if (!p.vote) std::this_thread::sleep_until(p.through);
  p.done = true;
  p.tensor = at::Tensor();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!p.vote) s.stats.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

namespace detail {

PendingCollective start_all_reduce(const at::Tensor& tensor, bool vote) {
  if (single()) return {};
  MMHOOK_CHECK(tensor.is_contiguous(), "all_reduce_async: the tensor must be contiguous");
  std::lock_guard<std::mutex> lock(g_mutex);
  State& s = require_state();
  check_not_broken(s, "allreduce");
  auto p = std::make_shared<detail::PendingState>();
  const auto t0 = Clock::now();
  p->tensor = tensor;
  p->vote = vote;
  try {
    std::vector<at::Tensor> v{tensor};
    p->work = s.pg->allreduce(v);
  } catch (const std::exception& e) {
    fail_collective(s, "allreduce", t0, e);
  }
  if (vote) {
    s.stats.votes += 1;
    return PendingCollective(std::move(p));
  }
  p->through = reserve_link(s, t0, 1);
  s.stats.calls += 1;
  s.stats.bytes += tensor.numel() * static_cast<int64_t>(tensor.element_size());
  s.stats.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return PendingCollective(std::move(p));
}

}  // namespace detail

PendingCollective all_reduce_async(const at::Tensor& tensor) {
  return detail::start_all_reduce(tensor, false);
}

PendingCollective vote_async(const at::Tensor& tensor) {
  return detail::start_all_reduce(tensor, true);
}

void broadcast(at::Tensor& tensor, int src) {
  if (single()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  MMHOOK_CHECK(src >= 0 && src < g_state->env.world_size, "broadcast: src rank ", src,
               " is not in [0, ", g_state->env.world_size, ")");
  at::Tensor t = tensor.is_contiguous() ? tensor : tensor.contiguous();
  run_collective("broadcast", t.numel() * t.element_size(), [&](PgBase& pg) {
    std::vector<at::Tensor> v{t};
    c10d::BroadcastOptions o;
    o.rootRank = src;
    return std::vector<c10::intrusive_ptr<c10d::Work>>{pg.broadcast(v, o)};
  });
  if (!t.is_same(tensor)) tensor.copy_(t);
}

std::vector<nlohmann::json> all_gather_object(const nlohmann::json& value) {
  if (single()) return {value};
  const std::string bytes = dump_bytes(value);
  const int world = g_state->env.world_size;
  std::vector<at::Tensor> sizes;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < world; ++r) out[0].push_back(at::zeros({1}, at::kLong));
    std::vector<at::Tensor> in{at::full({1}, static_cast<int64_t>(bytes.size()), at::kLong)};
    run_collective("allgather", 8, [&](PgBase& pg) {
      return std::vector<c10::intrusive_ptr<c10d::Work>>{pg.allgather(out, in)};
    });
    sizes = out[0];
  }
  int64_t max_size = 1;
  for (const auto& s : sizes) max_size = std::max(max_size, s.item<int64_t>());
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < world; ++r) out[0].push_back(at::zeros({max_size}, at::kByte));
  at::Tensor mine = at::zeros({max_size}, at::kByte);
  std::memcpy(mine.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  std::vector<at::Tensor> in{mine};
  run_collective("allgather", max_size, [&](PgBase& pg) {
    return std::vector<c10::intrusive_ptr<c10d::Work>>{pg.allgather(out, in)};
  });
  std::vector<nlohmann::json> result;
  for (int r = 0; r < world; ++r) {
    const auto* p = reinterpret_cast<const char*>(out[0][r].data_ptr<uint8_t>());
    result.push_back(nlohmann::json::parse(std::string(p, p + sizes[r].item<int64_t>())));
  }
  return result;
}

nlohmann::json broadcast_object(const nlohmann::json& value, int src) {
  if (single()) return value;
  const std::string bytes = dump_bytes(value);
  at::Tensor size = at::full({1}, static_cast<int64_t>(bytes.size()), at::kLong);
  broadcast(size, src);
  const int64_t n = size.item<int64_t>();
  at::Tensor buf = at::zeros({std::max<int64_t>(n, 1)}, at::kByte);
  if (get_rank() == src) std::memcpy(buf.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  broadcast(buf, src);
  const auto* p = reinterpret_cast<const char*>(buf.data_ptr<uint8_t>());
  return nlohmann::json::parse(std::string(p, p + n));
}

void barrier() {
  if (single()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  run_collective("barrier", 0, [&](PgBase& pg) {
    return std::vector<c10::intrusive_ptr<c10d::Work>>{pg.barrier()};
  });
}

void report_failure(const std::string& message) noexcept {
  if (single()) return;
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    const std::string key = "mmhook/error/" + std::to_string(g_state->env.rank);
    g_state->store->set(key, std::vector<uint8_t>(message.begin(), message.end()));
  } catch (...) {
    // The store may be gone with rank 0; peers then find this rank by its exit.
  }
}

CommStats comm_stats() { return g_state ? g_state->stats : CommStats{}; }

void reset_comm_stats() {
  if (g_state) g_state->stats = CommStats{};
}

double link_delay_ms() { return g_state ? g_state->delay_ms : 0; }

}  // namespace dist
}  // namespace mmhook
