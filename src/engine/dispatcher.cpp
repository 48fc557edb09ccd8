#include "mmhook/engine/dispatcher.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <queue>
#include <set>

#if defined(__x86_64__) || defined(_M_X64)
#include <x86intrin.h>
#endif

#include <c10/util/Exception.h>

#include "mmhook/core/exception_info.h"
#include "mmhook/engine/priority.h"

namespace mmhook {
namespace {

// A cheap monotonic tick: the TSC on x86-64 (~7 ns), steady_clock elsewhere. Ticks are turned
// into time only when timings are read, by comparing against steady_clock since construction.
inline uint64_t ticks() {
#if defined(__x86_64__) || defined(_M_X64)
  return __rdtsc();
#else
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<std::string> stage_names(StageMask mask) {
  std::vector<std::string> out;
  for (int i = 0; i < kNumStages; ++i)
    if (mask & (StageMask{1} << i)) out.emplace_back(stage_name(static_cast<Stage>(i)));
  return out;
}

HookTimingMode parse_hook_timing_mode(const std::string& value, const std::string& what) {
  if (value == "off") return HookTimingMode::kOff;
  if (value == "sampled") return HookTimingMode::kSampled;
  if (value == "all") return HookTimingMode::kAll;
  MMHOOK_THROW(Code::kInvalidArgument, what, ": expected \"off\", \"sampled\" or \"all\", got '",
               value, "'");
}

const char* hook_timing_mode_name(HookTimingMode mode) {
  switch (mode) {
    case HookTimingMode::kOff: return "off";
    case HookTimingMode::kSampled: return "sampled";
    case HookTimingMode::kAll: return "all";
  }
  return "sampled";
}

Dispatcher::Dispatcher() : tick0_(ticks()), ns0_(now_ns()) {
  const char* env = std::getenv("MMHOOK_HOOK_TIMING");
  set_timing(env != nullptr && *env != '\0' ? parse_hook_timing_mode(env, "MMHOOK_HOOK_TIMING")
                                            : HookTimingMode::kSampled);
}

void Dispatcher::set_timing(HookTimingMode mode, uint64_t sample_period) {
  MMHOOK_CHECK(sample_period >= 1, "hook timing sample period must be >= 1, got ", sample_period);
  constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  mode_ = mode;
  sample_period_ = sample_period;
  for (int s = 0; s < kNumStages; ++s) {
    const Stage st = static_cast<Stage>(s);
    const bool per_iter = st == Stage::kBeforeTrainIter || st == Stage::kAfterTrainIter ||
                          st == Stage::kBeforeValIter || st == Stage::kAfterValIter ||
                          st == Stage::kBeforeTestIter || st == Stage::kAfterTestIter;
    StageState& state = stages_[s];
    state.period = mode == HookTimingMode::kOff                ? kNever
                   : mode == HookTimingMode::kAll || !per_iter ? 1
                                                               : sample_period;
    state.countdown = mode == HookTimingMode::kOff ? kNever : 1;  // the next call is timed
  }
}
Dispatcher::~Dispatcher() = default;

Hook* Dispatcher::find(const std::string& name) const {
  for (const auto& h : hooks_)
    if (h->name() == name) return h.get();
  return nullptr;
}

void Dispatcher::settle() {
  for (auto& state : stages_) {
    for (const Entry& e : state.entries) e.stat->calls += state.pending;
    state.pending = 0;
  }
}

void Dispatcher::add(std::shared_ptr<Hook> hook, int priority) {
  MMHOOK_CHECK(hook != nullptr, "register_hook: hook is null");
  settle();
  priority = get_priority(priority);
  if (hook->name_.empty()) hook->name_ = hook->type_name();
  if (find(hook->name_) != nullptr) {
    const std::string base = hook->name_;
    for (int i = 1;; ++i) {
      const std::string candidate = base + "_" + std::to_string(i);
      if (find(candidate) == nullptr) {
        hook->name_ = candidate;
        break;
      }
    }
  }
  hook->priority_ = priority;

  // MMEngine's stable insertion: after the last hook whose priority is <= this one.
  std::vector<std::shared_ptr<Hook>> order = hooks_;
  size_t pos = 0;
  for (size_t i = order.size(); i > 0; --i) {
    if (order[i - 1]->priority_ <= priority) {
      pos = i;
      break;
    }
  }
  order.insert(order.begin() + static_cast<std::ptrdiff_t>(pos), hook);

  // run_after / run_before constraints: a stable topological sort keyed on the priority order.
  const size_t n = order.size();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) index[order[i]->name_] = i;
  std::vector<std::set<size_t>> succ(n);
  std::vector<size_t> indegree(n, 0);
  auto edge = [&](size_t from, size_t to) {
    if (from != to && succ[from].insert(to).second) ++indegree[to];
  };
  for (size_t i = 0; i < n; ++i) {
    for (const auto& a : order[i]->run_after) {
      auto it = index.find(a);
      if (it != index.end()) edge(it->second, i);
    }
    for (const auto& b : order[i]->run_before) {
      auto it = index.find(b);
      if (it != index.end()) edge(i, it->second);
    }
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i)
    if (indegree[i] == 0) ready.push(i);
  std::vector<std::shared_ptr<Hook>> sorted;
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    sorted.push_back(order[i]);
    for (size_t j : succ[i])
      if (--indegree[j] == 0) ready.push(j);
  }
  if (sorted.size() != n) {
    std::string cycle;
    for (size_t i = 0; i < n; ++i)
      if (indegree[i] > 0) cycle += (cycle.empty() ? "" : ", ") + order[i]->name_;
    hook->name_.clear();
    MMHOOK_THROW(Code::kInvalidArgument, "hook ordering constraints form a cycle among: ", cycle);
  }

  std::vector<std::unique_ptr<std::array<Stat, kNumStages>>> stats;
  for (const auto& h : sorted) {
    bool found = false;
    for (size_t i = 0; i < hooks_.size(); ++i) {
      if (hooks_[i] == h) {
        stats.push_back(std::move(stats_[i]));
        found = true;
        break;
      }
    }
    if (!found) stats.push_back(std::make_unique<std::array<Stat, kNumStages>>());
  }
  hooks_ = std::move(sorted);
  stats_ = std::move(stats);
  rebuild();
}

bool Dispatcher::remove(const std::string& name) {
  settle();
  for (size_t i = 0; i < hooks_.size(); ++i) {
    if (hooks_[i]->name() == name) {
      hooks_.erase(hooks_.begin() + static_cast<std::ptrdiff_t>(i));
      stats_.erase(stats_.begin() + static_cast<std::ptrdiff_t>(i));
      rebuild();
      return true;
    }
  }
  return false;
}

void Dispatcher::rebuild() {
  for (auto& state : stages_) state.entries.clear();
  for (size_t i = 0; i < hooks_.size(); ++i) {
    const StageMask mask = hooks_[i]->triggered_stages();
    for (int s = 0; s < kNumStages; ++s)
      if (mask & (StageMask{1} << s))
        stages_[s].entries.push_back(Entry{hooks_[i].get(), &(*stats_[i])[s]});
  }
}

void Dispatcher::rethrow(Hook* hook, Stage stage) {
  const std::exception_ptr error = std::current_exception();
  try {
    throw;
  } catch (const HookError&) {
    throw;  // raised by a nested stage call (e.g. before_save_checkpoint inside a hook)
  } catch (...) {
  }
  const ExceptionInfo info = describe_exception(error);
  throw HookError(info.code,
                  "hook '" + hook->name() + "' (" + hook->type_name() + ") failed at " +
                      std::string(stage_name(stage)) + ": " + info.message,
                  hook->name(), stage);
}

namespace {
// The loops of one stage: the stage's method is a lambda, so the switch on the stage happens
// once per call, not once per hook. Calls are counted per stage by the caller (`pending`); a
// hook that throws uncounts the hooks after it. The timed loop reads the tick once per hook.
template <class Entry, class F, class Rethrow>
inline void run_plain(const std::vector<Entry>& entries, F&& invoke, Rethrow&& rethrow) {
  const Entry* e = entries.data();
  const Entry* const last = e + entries.size();
  try {
    for (; e != last; ++e) invoke(*e->hook);
  } catch (...) {
    for (const Entry* rest = e + 1; rest != last; ++rest) --rest->stat->calls;
    rethrow(e->hook);
  }
}

template <class Entry, class F, class Rethrow>
inline void run_timed(const std::vector<Entry>& entries, F&& invoke, Rethrow&& rethrow) {
  const Entry* e = entries.data();
  const Entry* const last = e + entries.size();
  uint64_t t = ticks();
  try {
    for (; e != last; ++e) {
      invoke(*e->hook);
      const uint64_t t2 = ticks();
      const uint64_t d = t2 - t;
      auto& s = *e->stat;
      ++s.timed;
      s.total += d;
      if (d > s.max) s.max = d;
      t = t2;
    }
  } catch (...) {
    for (const Entry* rest = e + 1; rest != last; ++rest) --rest->stat->calls;
    rethrow(e->hook);
  }
}
}  // namespace

void Dispatcher::call(Stage stage, Runner& r, const StageArgs& a) {
  StageState& state = stages_[static_cast<int>(stage)];
  const auto& entries = state.entries;
  if (entries.empty()) return;
  ++state.pending;
  const bool timed = --state.countdown == 0;
  if (timed) state.countdown = state.period;
  auto fail = [this, stage](Hook* h) { rethrow(h, stage); };
#define MMHOOK_STAGE_CASE(S, CALL)             \
  case Stage::S: {                             \
    auto invoke = [&](Hook& h) { h.CALL; };    \
    if (__builtin_expect(timed, 0)) {          \
      run_timed<Entry>(entries, invoke, fail); \
    } else {                                   \
      run_plain<Entry>(entries, invoke, fail); \
    }                                          \
    return;                                    \
  }
  switch (stage) {
#define MMHOOK_STAGE_CALL_CASE(e, method, c_name, signature) \
  MMHOOK_STAGE_CASE(e, method MMHOOK_STAGE_CALL_ARGS_##signature(r, a))
    MMHOOK_STAGES(MMHOOK_STAGE_CALL_CASE)
#undef MMHOOK_STAGE_CALL_CASE
  }
#undef MMHOOK_STAGE_CASE
}

std::vector<std::string> Dispatcher::call_each(Stage stage, Runner& r, const StageArgs& a) {
  StageState& state = stages_[static_cast<int>(stage)];
  // A copy: a failing hook's cleanup may not change the list under the loop.
  const std::vector<Entry> entries = state.entries;
  if (entries.empty()) return {};
  ++state.pending;
  std::vector<std::string> errors;
  for (const Entry& e : entries) {
    try {
      try {
        MMHOOK_CHECK(stage == Stage::kOnException || stage == Stage::kAfterRun,
                     "call_each is for on_exception and after_run, not ", stage_name(stage));
        call_stage(*e.hook, stage, r, a);
      } catch (...) {
        rethrow(e.hook, stage);
      }
    } catch (const std::exception& err) {
      errors.emplace_back(err.what());
    }
  }
  return errors;
}

void call_stage(Hook& hook, Stage stage, Runner& r, const StageArgs& a) {
  switch (stage) {
#define MMHOOK_STAGE_CALL(e, method, c_name, signature) \
  case Stage::e: hook.method MMHOOK_STAGE_CALL_ARGS_##signature(r, a); return;
    MMHOOK_STAGES(MMHOOK_STAGE_CALL)
#undef MMHOOK_STAGE_CALL
  }
  MMHOOK_THROW(Code::kInvalidArgument, "call_stage: invalid stage ", static_cast<int>(stage));
}

std::string Dispatcher::hooks_info() const {
  std::vector<std::string> blocks;
  // MMEngine's 22 stages; on_exception is printed last when a hook handles it.
  for (int s = 0; s < kNumStages; ++s) {
    const auto& entries = stages_[s].entries;
    if (entries.empty()) continue;
    std::string info = std::string(stage_name(static_cast<Stage>(s))) + ":\n";
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string prio = priority_name(entries[i].hook->priority());
      // Padded like "(%-12s) %-35s", never cut: a hook name of any length is shown whole.
      const std::string& name = entries[i].hook->type_name();
      if (i) info += "\n";
      info += "(" + prio + std::string(prio.size() < 12 ? 12 - prio.size() : 0, ' ') + ") " + name +
              std::string(name.size() < 35 ? 35 - name.size() : 0, ' ');
    }
    info += "\n -------------------- ";
    blocks.push_back(std::move(info));
  }
  std::string out;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i) out += "\n";
    out += blocks[i];
  }
  return out;
}

std::vector<HookTiming> Dispatcher::timings() const {
  const uint64_t dt = ticks() - tick0_;
  const int64_t dns = now_ns() - ns0_;
  const double ms_per_tick =
      (dt > 0 && dns > 0) ? (static_cast<double>(dns) / 1e6) / static_cast<double>(dt) : 0.0;
  std::vector<HookTiming> out;
  for (size_t i = 0; i < hooks_.size(); ++i) {
    const StageMask mask = hooks_[i]->triggered_stages();
    for (int s = 0; s < kNumStages; ++s) {
      const Stat& st = (*stats_[i])[s];
      const uint64_t calls = st.calls + ((mask & (StageMask{1} << s)) ? stages_[s].pending : 0);
      if (calls == 0) continue;
      // Sampled: the timed calls stand for all of them.
      const double scale =
          st.timed > 0 ? static_cast<double>(calls) / static_cast<double>(st.timed) : 0.0;
      out.push_back(HookTiming{hooks_[i]->name(), std::string(stage_name(static_cast<Stage>(s))),
                               calls, static_cast<double>(st.total) * ms_per_tick * scale,
                               static_cast<double>(st.max) * ms_per_tick, st.timed});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const HookTiming& a, const HookTiming& b) {
    return a.total_ms > b.total_ms;
  });
  return out;
}

void Dispatcher::reset_timings() {
  for (auto& st : stats_) st->fill(Stat{});
  for (auto& state : stages_) state.pending = 0;
}

}  // namespace mmhook
