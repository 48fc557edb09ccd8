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
/// in "lr", log scale without the points <= 0, linear when no point is positive); the
/// validation metrics (each val record's keys other than time, data_time and step), placed at
/// the last logged train step before the validation; a panel with nothing to draw is left out.
/// Scalar names and the run folder's name are data, never part of the gnuplot script: legends
/// and the title keep only letters, digits and ` _./:+=-` (cut at 60 characters; "series N"
/// when nothing is left). gnuplot runs in a private temporary directory (removed afterwards) and
/// the image is then moved to `out_png`. Errors: no scalars file, no train records, gnuplot
/// missing from PATH or failing (its stderr is shown), `out_png` not writable.
std::string plot_work_dir(const std::string& work_dir, const std::string& out_png);

}  // namespace mmhook::app
