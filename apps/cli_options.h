#pragma once
/// @file
/// The `mmhook` command line, parsed without LibTorch: the executable parses it, answers
/// `--help`, `--version`, `plot` and `launch` itself, and loads the engine module (LibTorch and
/// all) only for `train`, `val` and `test` (docs/design.md §A6).

#include <optional>
#include <string>
#include <vector>

#include "mmhook/dist/launcher.h"

namespace mmhook::app {

/// The options every engine command takes.
struct CommonOptions {
  std::string config;    ///< the JSON config file
  std::string work_dir;  ///< --work-dir (empty: the config's, else work_dirs/<stem>)
  std::vector<std::string> cfg_options;  ///< --cfg-options KEY=VALUE ...
  std::string launcher = "none";         ///< --launcher none|pytorch|slurm
};

/// A parsed command line.
struct CliOptions {
  /// The subcommand given.
  enum class Command { kTrain, kVal, kTest, kPlot, kLaunch };
  Command command = Command::kTrain;
  CommonOptions common;                  ///< train / val / test
  bool resume = false;                   ///< train --resume given
  std::string resume_from;               ///< train --resume CKPT (empty: the work_dir's newest)
  std::string checkpoint;                ///< val / test --checkpoint
  std::string plot_dir;                  ///< plot WORK_DIR
  std::string plot_out;                  ///< plot -o
  dist::LaunchOptions launch;            ///< launch options
  std::vector<std::string> launch_args;  ///< launch: the mmhook arguments after --
};

/// Parses argv. Returns the exit code when the command line is handled already (--help,
/// --version, a usage error: CLI11 printed what to print), else nullopt with `out` filled.
std::optional<int> parse_cli(int argc, char** argv, CliOptions& out);

/// Runs `train`, `val` or `test` (the engine module's entry point; returns the exit code).
using EngineEntry = int (*)(const CliOptions* options, int abi_version);
/// The engine entry point's symbol name.
inline constexpr const char* kEngineEntrySymbol = "mmhook_cli_engine_run";
/// Raised when CliOptions changes; the module refuses a caller built with another one.
inline constexpr int kCliAbiVersion = 1;

}  // namespace mmhook::app
