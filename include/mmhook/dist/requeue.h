#pragma once
/// @file
/// Putting a preempted SLURM job back in the queue (`env_cfg.dist_cfg.requeue`): the job id from
/// the environment, checked, and `scontrol requeue` run with argv, never through a shell.

#include <optional>
#include <string>

namespace mmhook {
namespace dist {

/// The SLURM job this process belongs to, as `scontrol requeue` takes it:
/// `<SLURM_ARRAY_JOB_ID>_<SLURM_ARRAY_TASK_ID>` for a task of a job array, else `SLURM_JOB_ID`;
/// nullopt when SLURM_JOB_ID is unset. A value that is not a decimal number is a kConfig Error
/// naming the variable (it is never passed on).
std::optional<std::string> slurm_job_id();

/// Runs `scontrol requeue <job_id>` (the `scontrol` found on PATH, with argv) and waits up to
/// `timeout_s` seconds (then kills it). Returns "" on success, else what went wrong: not found,
/// its exit status with the first line of its output, or the timeout. `job_id` must look like
/// slurm_job_id()'s result (digits, at most one `_` between digits): anything else is a kConfig
/// Error.
std::string requeue_slurm_job(const std::string& job_id, double timeout_s = 60);

}  // namespace dist
}  // namespace mmhook
