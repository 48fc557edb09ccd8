#include "mmhook/hooks/progress_bar_hook.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "hooks/builtin_hooks.h"
#include "mmhook/core/error.h"
#include "mmhook/core/tensor_dict.h"
#include "mmhook/data/data_loader.h"
#include "mmhook/engine/loops.h"
#include "mmhook/engine/runner.h"

namespace mmhook {
namespace {

std::string fixed2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

std::string metrics_postfix(const Metrics& metrics) {
  std::string out;
  for (const auto& kv : metrics) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.4g", kv.second);
    out += (out.empty() ? "" : ", ") + kv.first + "=" + buf;
  }
  return out;
}

}  // namespace

std::string format_interval(double seconds) {
  const int64_t t = static_cast<int64_t>(std::max(0.0, seconds));
  const int64_t h = t / 3600, m = (t / 60) % 60, s = t % 60;
  char buf[64];
  if (h > 0)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  else
    std::snprintf(buf, sizeof(buf), "%02lld:%02lld", static_cast<long long>(m),
                  static_cast<long long>(s));
  return buf;
}

std::string render_progress_bar(const std::string& label, int64_t n, int64_t total,
                                double elapsed_s, int64_t bar_width, const std::string& postfix,
                                int64_t start_n) {
  std::ostringstream os;
  if (!label.empty()) os << label << ": ";
  const int64_t done = n - start_n;
  const bool known_rate = done > 0 && elapsed_s > 0;
  const double rate = known_rate ? static_cast<double>(done) / elapsed_s : 0.0;
  if (total > 0) {
    const double frac = std::min(1.0, std::max(0.0, static_cast<double>(n) / total));
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%3.0f%%", frac * 100.0);
    const int64_t filled = static_cast<int64_t>(std::floor(frac * static_cast<double>(bar_width)));
    os << pct << "|" << std::string(filled, '#') << std::string(bar_width - filled, ' ') << "| "
       << n << "/" << total << " [" << format_interval(elapsed_s) << "<"
       << (known_rate ? format_interval(static_cast<double>(total - n) / rate) : "?") << ", ";
  } else {
    os << n << "it [" << format_interval(elapsed_s) << ", ";
  }
  if (!known_rate)
    os << "?it/s";
  else if (rate >= 1.0)
    os << fixed2(rate) << "it/s";
  else
    os << fixed2(1.0 / rate) << "s/it";
  if (!postfix.empty()) os << ", " << postfix;
  os << "]";
  return os.str();
}

ProgressBarHook::ProgressBarHook(ProgressBarHookOptions options) : options_(options) {
  MMHOOK_CHECK(options_.refresh_interval >= 1,
               "ProgressBarHook.refresh_interval must be >= 1, got ", options_.refresh_interval);
  MMHOOK_CHECK(options_.bar_width >= 1, "ProgressBarHook.bar_width must be >= 1, got ",
               options_.bar_width);
  MMHOOK_CHECK(options_.stream != nullptr || options_.file != nullptr,
               "ProgressBarHook needs an output (file or stream)");
  const bool terminal = options_.stream == nullptr && isatty(fileno(options_.file)) == 1;
  enabled_ = options_.force || terminal;
}

void ProgressBarHook::write(const std::string& text) {
  if (options_.stream != nullptr) {
    *options_.stream << text;
    options_.stream->flush();
  } else {
    std::fputs(text.c_str(), options_.file);
    std::fflush(options_.file);
  }
}

void ProgressBarHook::draw(const Bar& bar, const std::string& postfix) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - bar.start).count();
  std::string text;
  if (on_line_ != nullptr && on_line_ != &bar) text += "\n";  // another bar's line stays
  text += "\r" + render_progress_bar(bar.label, bar.n, bar.total, elapsed, options_.bar_width,
                                     postfix, bar.start_n);
  write(text);
  on_line_ = &bar;
  ++draws_;
}

void ProgressBarHook::open(Bar& bar, std::string label, int64_t n, int64_t total) {
  bar.open = true;
  bar.label = std::move(label);
  bar.n = n;
  bar.start_n = n;
  bar.total = total;
  bar.start = Clock::now();
  if (enabled_) draw(bar, "");
}

void ProgressBarHook::advance(Bar& bar, const std::string& postfix) {
  if (!bar.open) return;
  bar.n += 1;
  if (!enabled_) return;
  if ((bar.n - bar.start_n) % options_.refresh_interval == 0 || bar.n == bar.total)
    draw(bar, postfix);
}

void ProgressBarHook::close(Bar& bar, const std::string& postfix) {
  if (!bar.open) return;
  bar.open = false;
  if (!enabled_) return;
  draw(bar, postfix);
  write("\n");
  on_line_ = nullptr;
}

void ProgressBarHook::before_train_epoch(Runner& runner) {
  TrainLoop& loop = runner.train_loop();
  if (loop.by_epoch()) {
    // A resumed epoch continues at the batch it was stopped after.
    const int64_t size = loop.dataloader().size();
    const int64_t done = std::clamp<int64_t>(runner.iter() - runner.epoch() * size, 0, size);
    open(train_,
         "Epoch " + std::to_string(runner.epoch() + 1) + "/" + std::to_string(runner.max_epochs()),
         done, size);
  } else {
    open(train_, "Iter", runner.iter(), runner.max_iters());
  }
}

void ProgressBarHook::after_train_iter(Runner&, int64_t, const TensorDict&,
                                       const TensorDict& outputs) {
  std::string postfix;
  if (enabled_) {
    if (const at::Tensor* loss = outputs.find("loss");
        loss != nullptr && loss->defined() && loss->numel() == 1) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "loss=%.4g", loss->item<double>());
      postfix = buf;
    }
  }
  advance(train_, postfix);
  if (!postfix.empty()) train_postfix_ = postfix;
}

void ProgressBarHook::after_train_epoch(Runner&) { close(train_, train_postfix_); }

void ProgressBarHook::after_train(Runner&) { close(train_, train_postfix_); }

void ProgressBarHook::before_val_epoch(Runner& runner) {
  open(eval_, "Val", 0, runner.val_loop().dataloader().size());
}

void ProgressBarHook::after_val_iter(Runner&, int64_t, const TensorDict&, const TensorDict&) {
  advance(eval_, "");
}

void ProgressBarHook::after_val_epoch(Runner&, const Metrics& metrics) {
  close(eval_, metrics_postfix(metrics));
}

void ProgressBarHook::before_test_epoch(Runner& runner) {
  open(eval_, "Test", 0, runner.test_loop().dataloader().size());
}

void ProgressBarHook::after_test_iter(Runner&, int64_t, const TensorDict&, const TensorDict&) {
  advance(eval_, "");
}

void ProgressBarHook::after_test_epoch(Runner&, const Metrics& metrics) {
  close(eval_, metrics_postfix(metrics));
}

void ProgressBarHook::on_exception(Runner&, const std::string&) {
  train_.open = false;
  eval_.open = false;
  if (on_line_ != nullptr) write("\n");
  on_line_ = nullptr;
}

void detail::register_progress_bar_hook(Registry<Hook>& registry) {
  registry.add("ProgressBarHook", [](const ConfigNode& cfg) {
    ProgressBarHookOptions o;
    o.refresh_interval = cfg.get<int64_t>("refresh_interval", o.refresh_interval);
    o.force = cfg.get<bool>("force", o.force);
    o.bar_width = cfg.get<int64_t>("bar_width", o.bar_width);
    return std::make_shared<ProgressBarHook>(o);
  });
}

}  // namespace mmhook
