// libFuzzer target: the JSON config builder (`Runner(const json&)`: key validation, registries,
// model, hooks, log processor, environment) on arbitrary text. Contract: a Runner is built, or
// mmhook::Error is thrown (every config mistake is one, naming the JSON path). Any other
// exception (a json type_error, std::out_of_range, c10::Error escaping unwrapped), a crash or a
// sanitizer report is a bug.
//
// Past the constructor, the lazily built parts (loops with their loaders and datasets, the
// optimizer wrapper) are built too, except for configs naming an MNIST dataset (each would read
// the 60000 images of the real files).
//
// Out of the fuzzed domain, and skipped: numbers above 4096 in absolute value (a legitimately
// huge model, loader or thread count is a resource request, not a parsing bug) and
// `launcher` values other than "none" (they would start a process group).
#include "fuzz_common.h"

#include <mmhook/config/json_parse.h>
#include <mmhook/engine/runner.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <string_view>

namespace {

bool in_domain(const nlohmann::json& j, int depth = 0) {
  if (depth > 64) return false;
  if (j.is_number()) return std::fabs(j.get<double>()) <= 4096.0;
  if (j.is_string()) return j.get_ref<const std::string&>().size() <= 4096;
  if (j.is_structured()) {
    for (const auto& v : j) {
      if (!in_domain(v, depth + 1)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string work_dir = mmhook::fuzz::scratch_dir() + "/work";
  // The strict reader every entry point uses (duplicate keys, nesting depth): it too must
  // answer any text with a value or an mmhook::Error.
  nlohmann::json cfg;
  bool parsed = false;
  mmhook::fuzz::expect_mmhook_error(std::nullopt, "", [&] {
    cfg = mmhook::parse_config_text(std::string_view(reinterpret_cast<const char*>(data), size),
                                    "config");
    parsed = true;
  });
  if (!parsed || !in_domain(cfg)) return 0;
  if (cfg.is_object()) {
    if (cfg.contains("launcher") && cfg["launcher"] != "none") return 0;
    // Everything the Runner writes goes to one scratch folder.
    cfg["work_dir"] = work_dir;
  }
  std::unique_ptr<mmhook::Runner> runner;
  mmhook::fuzz::expect_mmhook_error(std::nullopt, "",
                                    [&] { runner = std::make_unique<mmhook::Runner>(cfg); });
  if (!runner || cfg.dump().find("MNIST") != std::string::npos) return 0;
  const auto build = [&](auto&& part) {
    mmhook::fuzz::expect_mmhook_error(std::nullopt, "", part);
  };
  if (cfg.contains("train_cfg")) build([&] { (void)runner->train_loop(); });
  if (cfg.contains("optim_wrapper")) build([&] { (void)runner->optim_wrapper(); });
  if (runner->has_val_loop()) build([&] { (void)runner->val_loop(); });
  if (runner->has_test_loop()) build([&] { (void)runner->test_loop(); });
  return 0;
}
