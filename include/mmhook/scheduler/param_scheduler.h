#pragma once
/// @file
/// `ParamScheduler`: MMEngine's `_ParamScheduler` (docs/design.md §B6.1). Formulas are recursive:
/// each step reads the wrapper group's current value and writes the next one, so schedulers on the
/// same parameter chain multiplicatively in list order.
///
/// Contract for subclasses: implement `get_value()` (values for `last_step()`, one per wrapper
/// group), save/load extra fields through `save_extra`/`load_extra`, and call `initial_step()`
/// at the end of the most-derived constructor that defines `get_value` (C++ cannot dispatch to
/// it from the base constructor).

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include "mmhook/core/ordered_map.h"
#include "mmhook/optim/optim_wrapper.h"

namespace mmhook {

/// MMEngine's INF end (1e9).
constexpr int64_t kSchedulerInf = 1000000000;

/// A per-group option given as one value for every group or as a list (MMEngine's
/// `float or list[float]`, e.g. OneCycle's `eta_max`, ReduceOnPlateau's `min_value`).
using PerGroupValue = std::variant<double, std::vector<double>>;

/// The arguments every scheduler shares.
struct SchedulerArgs {
  /// First step (inclusive) the scheduler acts on. Default 0.
  int64_t begin = 0;
  /// Step (exclusive) it stops at. Default kSchedulerInf.
  int64_t end = kSchedulerInf;
  /// -1 for a fresh run (sets initial_<param>), else resume from that step. Default -1.
  int64_t last_step = -1;
  /// Step unit: epochs (true) or iterations. Default true.
  bool by_epoch = true;
};

/// Base class of parameter schedulers.
class ParamScheduler {
 public:
  /// Validates the arguments and fixes base values from `initial_<param_name>`.
  ParamScheduler(OptimWrapper& optimizer, std::string param_name, SchedulerArgs args);
  /// Virtual destructor.
  virtual ~ParamScheduler();

  /// Advances one step; writes the new values when begin <= global step < end.
  virtual void step();
  /// Steps with validation metrics (ReduceOnPlateau); other schedulers ignore them.
  virtual void step(const OrderedMap<double>& metrics);
  /// Values of the parameter after the last step, one per wrapper group.
  const std::vector<double>& get_last_value() const { return last_value_; }
  /// All fields except the optimiser, as a string-keyed dict.
  virtual c10::IValue state_dict() const;
  /// Overwrites every field from `state` (a checkpoint's milestones replace the config's).
  virtual void load_state_dict(const c10::IValue& state);
  /// True when stepped per epoch.
  bool by_epoch() const { return by_epoch_; }
  /// True when the scheduler wants validation metrics (ReduceOnPlateau).
  virtual bool need_val_args() const { return false; }
  /// First step.
  int64_t begin() const { return begin_; }
  /// End step (exclusive).
  int64_t end() const { return end_; }
  /// Steps taken inside [begin, end).
  int64_t last_step() const { return last_step_; }
  /// Steps taken overall (starts at -1, 0 after the implicit first step).
  int64_t global_step() const { return global_step_; }
  /// Scheduled parameter ("lr", "momentum", ...).
  const std::string& param_name() const { return param_name_; }
  /// Base values (initial_<param>) per group.
  const std::vector<double>& base_values() const { return base_values_; }
  /// The wrapper whose groups are scheduled.
  OptimWrapper& optimizer() const { return *optimizer_; }

 protected:
  /// The values for the current last_step.
  virtual std::vector<double> get_value() = 0;
  /// The implicit first step of the constructor.
  void initial_step() { step(); }
  /// Writes subclass fields into a state dict.
  virtual void save_extra(c10::impl::GenericDict& dict) const;
  /// Reads subclass fields from a state dict.
  virtual void load_extra(const c10::impl::GenericDict& dict);
  /// Current value of the parameter in group `g`.
  double current(size_t g) const { return optimizer_->get_group_value(g, param_name_); }
  /// Number of groups (incl. the wrapper's base group).
  size_t num_groups() const { return optimizer_->num_param_groups(); }
  /// Refreshes last_value from the groups.
  void record_last_value();
  /// Number of real optimiser groups (without the wrapper's synthetic base group).
  size_t num_real_groups() const;

  /// The wrapper whose groups are scheduled (not owned).
  OptimWrapper* optimizer_;
  /// Scheduled parameter ("lr", "momentum", ...).
  std::string param_name_;
  /// First step.
  int64_t begin_;
  /// End step (exclusive).
  int64_t end_;
  /// Steps taken inside [begin, end).
  int64_t last_step_;
  /// True when stepped per epoch.
  bool by_epoch_;
  /// Steps taken overall.
  int64_t global_step_ = -1;
  /// Base values (initial_<param>) per group.
  std::vector<double> base_values_;
  /// Values set by the last step, per group.
  std::vector<double> last_value_;
};

namespace detail {
/// Expands `value` to one entry per group of `optimizer` (base group included). A list needs
/// one entry per real group (the last is repeated for the base group); with `allow_all_groups`
/// a list that already covers the base group is accepted too. Wrong length: invalid argument
/// naming `name`.
std::vector<double> expand_per_group(const PerGroupValue& value, const OptimWrapper& optimizer,
                                     const std::string& name, bool allow_all_groups = false);
/// Python's modulo (result has the sign of the divisor).
inline int64_t py_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }
/// Reads a double from a state dict entry (double or int).
double ivalue_to_double(const c10::IValue& v);
/// dict[key], or a checkpoint Error naming the key.
c10::IValue dict_at(const c10::impl::GenericDict& d, const std::string& key);
/// std::vector<double> from a list IValue.
std::vector<double> ivalue_to_doubles(const c10::IValue& v);
}  // namespace detail

}  // namespace mmhook

/// Declares `Name`, the `Base` scheduler fixed to parameter `param` (LR/Momentum variants).
// Name and Base are class names in a declaration, where parentheses cannot go.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define MMHOOK_SCHEDULER_VARIANT(Name, Base, param)            \
  class Name : public Base {                                   \
   public:                                                     \
    template <class... A>                                      \
    explicit Name(::mmhook::OptimWrapper& optimizer, A&&... a) \
        : Base(optimizer, param, std::forward<A>(a)...) {}     \
  }
// NOLINTEND(bugprone-macro-parentheses)
