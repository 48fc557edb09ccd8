#pragma once
/// @file
/// CheckpointHook's decisions as pure functions (docs/design.md §B4.6): which periodic
/// checkpoints to delete, which rule a `save_best` key follows, whether a score is better.
/// EarlyStoppingHook uses the same rule inference.

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace mmhook {

/// Retention decision: the ids to delete after adding `step` to `kept` (oldest first), with at
/// most `max_keep` ids kept (`max_keep <= 0`: keep all). Updates `kept`.
std::vector<int64_t> retention_after_save(std::deque<int64_t>& kept, int64_t step,
                                          int64_t max_keep);
/// MMEngine's rule inference for a metric key: "greater" or "less"; Error if undecidable.
std::string infer_rule(const std::string& key, const std::vector<std::string>& greater_keys,
                       const std::vector<std::string>& less_keys);
/// Whether `value` beats `best` under `rule` ("greater": >, "less": <).
bool is_better(const std::string& rule, double value, double best);

}  // namespace mmhook
