// The mmhook command (docs/design.md §A6). This executable does not link LibTorch: it parses
// the command line, answers --help, --version, `plot` and `launch` itself, and loads the engine
// module (mmhook_cli_engine.so, which links LibTorch) only to train, validate or test. Loading
// LibTorch's ~290 shared libraries takes most of a second; --version no longer pays for it.

#include <dlfcn.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli_options.h"
#include "mmhook/dist/launcher.h"
#include "plot.h"

#if defined(MMHOOK_CLI_LINKED_ENGINE)
// Sanitized builds link cli_engine.cpp into this executable (apps/CMakeLists.txt says why).
extern "C" int mmhook_cli_engine_run(const mmhook::app::CliOptions* options, int abi_version);
#else
#ifndef MMHOOK_CLI_ENGINE_NAME
#error "MMHOOK_CLI_ENGINE_NAME (the engine module's file name) must be defined by the build"
#endif
#ifndef MMHOOK_CLI_ENGINE_INSTALL_RELDIR
#error \
    "MMHOOK_CLI_ENGINE_INSTALL_RELDIR (the module's folder relative to the binary's) must be defined"
#endif
#endif

namespace {

namespace fs = std::filesystem;
using mmhook::app::CliOptions;

/// This executable's path (/proc/self/exe), so a relocated installation finds its module.
fs::path self_path() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

/// Loads the engine module: next to this executable (the build tree), else in the install
/// layout's library folder. Returns its entry point, or nullptr after printing why.
mmhook::app::EngineEntry load_engine() {
#if defined(MMHOOK_CLI_LINKED_ENGINE)
  return &mmhook_cli_engine_run;
#else
  const fs::path dir = self_path().parent_path();
  const std::vector<fs::path> candidates = {
      dir / MMHOOK_CLI_ENGINE_NAME,
      dir / MMHOOK_CLI_ENGINE_INSTALL_RELDIR / MMHOOK_CLI_ENGINE_NAME};
  std::string tried;
  for (const fs::path& path : candidates) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path.string();
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      std::fprintf(stderr, "mmhook: error: cannot load the engine module %s: %s\n", path.c_str(),
                   why != nullptr ? why : "unknown reason");
      return nullptr;
    }
    void* entry = dlsym(handle, mmhook::app::kEngineEntrySymbol);
    if (entry == nullptr) {
      std::fprintf(stderr, "mmhook: error: the engine module %s has no %s\n", path.c_str(),
                   mmhook::app::kEngineEntrySymbol);
      return nullptr;
    }
    // The module stays loaded until the process exits.
    return reinterpret_cast<mmhook::app::EngineEntry>(entry);
  }
  std::fprintf(stderr,
               "mmhook: error: the engine module %s is missing (looked for %s); reinstall "
               "mmhook\n",
               MMHOOK_CLI_ENGINE_NAME, tried.c_str());
  return nullptr;
#endif
}

int run_launch(const CliOptions& o) {
  std::vector<std::string> child{self_path().string()};
  child.insert(child.end(), o.launch_args.begin(), o.launch_args.end());
  const std::string& sub = o.launch_args.front();
  const bool engine_cmd = sub == "train" || sub == "val" || sub == "test";
  bool has_launcher = false;
  for (const auto& a : o.launch_args) has_launcher = has_launcher || a.rfind("--launcher", 0) == 0;
  if (engine_cmd && !has_launcher) {
    child.push_back("--launcher");
    child.push_back("pytorch");
  }
  return mmhook::dist::launch_local(child, o.launch);
}

int run(int argc, char** argv) {
  CliOptions options;
  if (const auto code = mmhook::app::parse_cli(argc, argv, options)) return *code;
  switch (options.command) {
    case CliOptions::Command::kLaunch: return run_launch(options);
    case CliOptions::Command::kPlot: {
      const std::string png = mmhook::app::plot_work_dir(options.plot_dir, options.plot_out);
      std::printf("mmhook plot: wrote %s\n", png.c_str());
      return 0;
    }
    case CliOptions::Command::kTrain:
    case CliOptions::Command::kVal:
    case CliOptions::Command::kTest: break;
  }
  const mmhook::app::EngineEntry entry = load_engine();
  return entry == nullptr ? 1 : entry(&options, mmhook::app::kCliAbiVersion);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmhook: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mmhook: error: unknown exception\n");
  }
  return 1;
}
