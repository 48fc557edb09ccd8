#pragma once
/// @file
/// `mmhook plot WORK_DIR [-o OUT.png]`: a PNG of loss, learning rate and validation metrics per
/// step, drawn by gnuplot (run as a child process on a generated script) from the newest run's
/// `vis_data/scalars.json`.

#include <string>

namespace mmhook::app {

/// The newest run's scalars file under `work_dir`: `work_dir/vis_data/scalars.json` when
/// `work_dir` is itself a run folder, else `work_dir/<timestamp>/vis_data/scalars.json` with the
/// greatest timestamp. Error (kNotFound) naming `work_dir` when there is none.
std::string find_scalars_file(const std::string& work_dir);

/// Writes `out_png` (empty: `work_dir/plot.png`) from `work_dir`'s newest scalars file and
/// returns its path. Panels: every train key containing "loss"; the learning rate (keys ending
/// in "lr", log scale); the validation metrics (each val record's keys other than time,
/// data_time and step), placed at the last logged train step before the validation. Errors:
/// no scalars file, no train records, gnuplot missing from PATH or failing (its stderr is shown).
std::string plot_work_dir(const std::string& work_dir, const std::string& out_png);

}  // namespace mmhook::app
