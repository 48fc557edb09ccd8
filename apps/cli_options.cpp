// The `mmhook` command line's definition (CLI11), free of LibTorch so that --help, --version,
// plot and launch cost no engine start-up.

#include "cli_options.h"

#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "mmhook/version.h"

namespace mmhook::app {

std::optional<int> parse_cli(int argc, char** argv, CliOptions& out) {
  CLI::App app{
      "mmhook: train, validate and test models from JSON configs (MMEngine's hooks on LibTorch)"};
  app.set_version_flag("--version", std::string("mmhook ") + kVersionString);
  app.require_subcommand(1);

  CommonOptions train_opts, val_opts, test_opts;
  std::string val_ckpt, test_ckpt;
  auto add_common = [](CLI::App* sub, CommonOptions& c) {
    sub->add_option("config", c.config, "JSON config file")->required()->check(CLI::ExistingFile);
    sub->add_option("--work-dir", c.work_dir, "directory for logs and checkpoints");
    sub->add_option("--cfg-options", c.cfg_options,
                    "override config keys: KEY=VALUE (dotted keys, list indices, JSON values)");
    sub->add_option("--launcher", c.launcher, "job launcher")
        ->check(CLI::IsMember({"none", "pytorch", "slurm"}));
  };
  CLI::App* train = app.add_subcommand("train", "train a model");
  add_common(train, train_opts);
  auto* resume_opt = train->add_option(
      "--resume", out.resume_from,
      "resume from CKPT; without a value from the work_dir's newest checkpoint (last_checkpoint, "
      "else the one with the most iterations), an error when it holds none; 'auto': from the "
      "newest checkpoint when there is one, else from the start (restarted and requeued jobs)");
  resume_opt->expected(0, 1);
  CLI::App* val = app.add_subcommand("val", "validate a checkpoint");
  add_common(val, val_opts);
  val->add_option("--checkpoint", val_ckpt, "checkpoint to evaluate")->required();
  CLI::App* test = app.add_subcommand("test", "test a checkpoint");
  add_common(test, test_opts);
  test->add_option("--checkpoint", test_ckpt, "checkpoint to evaluate")->required();
  CLI::App* plot = app.add_subcommand(
      "plot", "PNG of loss, learning rate and validation metrics per step (needs gnuplot)");
  plot->add_option("work_dir", out.plot_dir, "a training work_dir (its newest run is plotted)")
      ->required();
  plot->add_option("-o,--out", out.plot_out, "output PNG (default WORK_DIR/plot.png)");

  // mmhook launch --nproc-per-node N [--master-port P] -- <train|val|test args>
  CLI::App* launch = app.add_subcommand(
      "launch", "run N processes of this command on this machine (data parallel, like torchrun)");
  launch->add_option("--nproc-per-node", out.launch.nproc_per_node, "processes to start")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            // CLI11's PositiveNumber says "Value 0 not in range 0.000000 to 1.797e+308".
            try {
              size_t used = 0;
              const long long n = std::stoll(value, &used);
              if (used == value.size() && n >= 1) return "";
            } catch (const std::exception&) {  // not a number, or beyond long long
            }
            return "must be an integer >= 1, got '" + value + "'";
          },
          "INT>=1", "at least one"));
  launch->add_flag("--force", out.launch.force,
                   "allow more than 16 processes per core of this machine");
  launch->add_option("--master-port", out.launch.master_port, "rank 0's port (default: a free one)")
      ->check(CLI::Range(0, 65535));
  launch->add_option("--master-addr", out.launch.master_addr, "rank 0's address");
  launch
      ->add_option("--max-restarts", out.launch.max_restarts,
                   "start all ranks again up to N times when one fails (train with --resume auto "
                   "to continue from the last checkpoint)")
      ->check(CLI::Range(0, 1000000));
  launch->add_option("args", out.launch_args, "after --: the mmhook arguments of every process")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  using Command = CliOptions::Command;
  if (*launch) {
    out.command = Command::kLaunch;
  } else if (*plot) {
    out.command = Command::kPlot;
  } else if (*train) {
    out.command = Command::kTrain;
    out.common = train_opts;
    out.resume = resume_opt->count() > 0;
  } else if (*val) {
    out.command = Command::kVal;
    out.common = val_opts;
    out.checkpoint = val_ckpt;
  } else {
    out.command = Command::kTest;
    out.common = test_opts;
    out.checkpoint = test_ckpt;
  }
  return std::nullopt;
}

}  // namespace mmhook::app
