#include "mmhook/logging/log_processor.h"

#include <algorithm>
#include <regex>
#include <set>
#include <string_view>

#include "mmhook/config/config_node.h"
#include "mmhook/core/error.h"
#include "mmhook/logging/py_format.h"

namespace mmhook {

struct LogProcessor::Pattern {
  std::regex regex;
};

namespace {

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string remove_prefix(const std::string& s, const std::string& prefix) {
  return starts_with(s, prefix) ? s.substr(prefix.size()) : s;
}

std::string rjust(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

// Appends or overwrites in place, as a Python dict assignment does.
void put(nlohmann::ordered_json* tag, const std::string& key, nlohmann::ordered_json value) {
  (*tag)[key] = std::move(value);
}

// A log line names scalars and infos that any hook (a C, Rust or Go one included) chose, so a
// newline or carriage return in a key or a string value could forge further log lines, and an
// escape byte could drive the terminal. Control bytes are written as Python escapes (\n, \r,
// \t, \xNN); a line without any is returned unchanged.
std::string escape_control_chars(std::string line) {
  const auto is_control = [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
  };
  if (std::none_of(line.begin(), line.end(), is_control)) return line;
  std::string out;
  out.reserve(line.size() + 16);
  for (const char c : line) {
    if (!is_control(c)) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      static const char kHex[] = "0123456789abcdef";
      const auto b = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  return out;
}

}  // namespace

LogProcessor::LogProcessor(Options options) : options_(std::move(options)) {
  MMHOOK_CHECK(options_.num_digits >= 0 && options_.num_digits <= 30,
               "LogProcessor.num_digits must be in [0, 30], got ", options_.num_digits);
  MMHOOK_CHECK(options_.window_size > 0, "LogProcessor.window_size must be > 0, got ",
               options_.window_size);
  if (options_.custom_cfg.is_null()) options_.custom_cfg = nlohmann::json::array();
  MMHOOK_CHECK(options_.custom_cfg.is_array(), "LogProcessor.custom_cfg must be a list, got ",
               options_.custom_cfg.type_name());

  std::set<std::string> seen_names;
  for (size_t i = 0; i < options_.custom_cfg.size(); ++i) {
    const auto& entry = options_.custom_cfg[i];
    const std::string where = "LogProcessor.custom_cfg[" + std::to_string(i) + "]";
    MMHOOK_CHECK(entry.is_object(), where, " must be an object, got ", entry.type_name());
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      static const std::set<std::string> kKnown = {"data_src", "log_name", "method_name",
                                                   "window_size"};
      MMHOOK_CHECK(kKnown.count(it.key()) > 0, where, ": unknown key '", it.key(),
                   "' (known: data_src, log_name, method_name, window_size)");
    }
    MMHOOK_CHECK(entry.contains("data_src") && entry["data_src"].is_string(), where,
                 ".data_src must be a string");
    CustomEntry parsed;
    parsed.data_src = entry["data_src"].get<std::string>();
    if (entry.contains("log_name")) {
      MMHOOK_CHECK(entry["log_name"].is_string(), where, ".log_name must be a string");
      parsed.log_name = entry["log_name"].get<std::string>();
    } else {
      parsed.log_name = parsed.data_src;
    }
    MMHOOK_CHECK(seen_names.insert(parsed.log_name).second,
                 "LogProcessor.custom_cfg: found duplicate '", parsed.log_name, "' for ",
                 parsed.data_src,
                 "; neither define the same log_name twice nor leave log_name out for one "
                 "data_src more than once");
    if (entry.contains("window_size")) parsed.window_size = entry["window_size"];
    MMHOOK_CHECK(options_.by_epoch || parsed.window_size != "epoch", where,
                 ": window_size cannot be 'epoch' when by_epoch is false");
    parse_window_size(parsed.window_size, LogContext{});  // type check only
    MMHOOK_CHECK(entry.contains("method_name") && entry["method_name"].is_string(), where,
                 ".method_name must be a string naming a HistoryBuffer statistic");
    parsed.method_name = entry["method_name"].get<std::string>();
    custom_.push_back(std::move(parsed));
  }

  auto pattern = std::make_shared<Pattern>();
  try {
    pattern->regex =
        std::regex(options_.mean_pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    MMHOOK_THROW(Code::kInvalidArgument, "LogProcessor.mean_pattern '", options_.mean_pattern,
                 "' is not a valid regex: ", e.what());
  }
  pattern_ = std::move(pattern);
}

LogProcessor LogProcessor::from_config(const ConfigNode& cfg) {
  if (cfg.has("type")) {
    const std::string type = cfg.require<std::string>("type");
    if (type != "LogProcessor")
      cfg.fail("type", "unknown log processor '" + type + "' (known: LogProcessor)");
  }
  Options o;
  o.window_size = cfg.get<int64_t>("window_size", o.window_size);
  o.by_epoch = cfg.get<bool>("by_epoch", o.by_epoch);
  o.custom_cfg = cfg.get<nlohmann::json>("custom_cfg", nlohmann::json::array());
  if (!o.custom_cfg.is_array())
    cfg.fail("custom_cfg", "expected a list, got " + json_type_name(o.custom_cfg));
  o.num_digits = static_cast<int>(cfg.get<int64_t>("num_digits", o.num_digits));
  o.log_with_hierarchy = cfg.get<bool>("log_with_hierarchy", o.log_with_hierarchy);
  o.mean_pattern = cfg.get<std::string>("mean_pattern", o.mean_pattern);
  cfg.check_unused();
  try {
    return LogProcessor(std::move(o));
  } catch (const Error& e) {
    MMHOOK_THROW(Code::kConfig, cfg.path().empty() ? "log_processor" : cfg.path(), ": ", e.what());
  }
}

int64_t LogProcessor::parse_window_size(const nlohmann::json& window_size, const LogContext& ctx) {
  if (window_size.is_null()) return -1;
  if (window_size.is_number_integer()) return window_size.get<int64_t>();
  if (window_size == "epoch") return ctx.batch_idx + 1;
  if (window_size == "global") return ctx.iter + 1;
  MMHOOK_THROW(Code::kInvalidArgument,
               "window_size should be int, epoch or global, but got invalid ", window_size.dump());
}

int64_t LogProcessor::get_iter(const LogContext& ctx) const {
  return options_.by_epoch ? ctx.batch_idx + 1 : ctx.iter + 1;
}

int64_t LogProcessor::get_epoch(const LogContext& ctx) {
  switch (ctx.mode) {
    case Mode::kTrain: return ctx.epoch + 1;
    case Mode::kVal: return ctx.train_loop_built ? ctx.epoch : 0;
    default:
      MMHOOK_THROW(Code::kInvalidArgument, "runner mode should be 'train' or 'val', but got ",
                   mode_name(ctx.mode));
  }
}

nlohmann::ordered_json LogProcessor::collect_scalars(const MessageHub& hub, const LogContext& ctx,
                                                     const std::vector<CustomEntry>& entries,
                                                     bool reserve_prefix) const {
  const std::string mode(mode_name(ctx.mode));
  const std::string prefix = mode + "/";
  std::vector<std::pair<std::string, const HistoryBuffer*>> scalars;
  for (const auto& kv : hub.log_scalars()) {
    if (!starts_with(kv.first, mode)) continue;
    std::string key = reserve_prefix ? kv.first : remove_prefix(kv.first, prefix);
    bool replaced = false;
    for (auto& s : scalars) {
      if (s.first == key) {
        s.second = &kv.second;
        replaced = true;
      }
    }
    if (!replaced) scalars.emplace_back(std::move(key), &kv.second);
  }
  nlohmann::ordered_json tag = nlohmann::ordered_json::object();
  for (const auto& s : scalars) {
    const bool smooth = std::regex_search(s.first, pattern_->regex);
    put(&tag, s.first, smooth ? s.second->mean(options_.window_size) : s.second->current());
  }
  for (const auto& entry : entries) {
    const std::string data_src = reserve_prefix ? prefix + entry.data_src : entry.data_src;
    const std::string log_name = reserve_prefix ? prefix + entry.log_name : entry.log_name;
    for (const auto& s : scalars) {
      if (s.first != data_src) continue;
      const int64_t window = parse_window_size(entry.window_size, ctx);
      put(&tag, log_name, s.second->statistics(entry.method_name, window));
      break;
    }
  }
  return tag;
}

nlohmann::ordered_json LogProcessor::collect_non_scalars(const MessageHub& hub,
                                                         const LogContext& ctx) const {
  const std::string mode(mode_name(ctx.mode));
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& kv : hub.runtime_info()) {
    if (!starts_with(kv.first, mode)) continue;
    const std::string key =
        options_.log_with_hierarchy ? kv.first : remove_prefix(kv.first, mode + "/");
    put(&out, key, nlohmann::ordered_json(kv.second));
  }
  return out;
}

std::pair<nlohmann::ordered_json, std::string> LogProcessor::get_log_after_iter(
    const MessageHub& hub, const LogContext& ctx) const {
  const std::string mode(mode_name(ctx.mode));
  const int nd = options_.num_digits;
  nlohmann::ordered_json log_tag = collect_scalars(hub, ctx, custom_);
  nlohmann::ordered_json tag =
      options_.log_with_hierarchy ? collect_scalars(hub, ctx, custom_, true) : log_tag;

  std::string lr_str;
  for (auto it = tag.begin(); it != tag.end(); ++it) {
    if (!ends_with(it.key(), "lr")) continue;
    const std::string key = remove_prefix(it.key(), mode + "/");
    log_tag.erase(key);
    if (!lr_str.empty()) lr_str += ' ';
    lr_str += key + ": " + py_format_exp(it.value().get<double>(), nd);
  }

  std::string line;
  const std::string len_str = std::to_string(ctx.dataloader_len);
  if (options_.by_epoch) {
    const std::string iter_str = rjust(std::to_string(get_iter(ctx)), len_str.size());
    if (ctx.mode == Mode::kTrain || ctx.mode == Mode::kVal) {
      const int64_t epoch = get_epoch(ctx);
      std::string epoch_str = "[" + std::to_string(epoch) + "]";
      if (ctx.train_loop_built)
        epoch_str = rjust(epoch_str, std::to_string(ctx.max_epochs).size() + 3);
      tag["epoch"] = epoch;
      line = "Epoch(" + mode + ")" + epoch_str + "[" + iter_str + "/" + len_str + "]  ";
    } else {
      line = "Epoch(" + mode + ") [" + iter_str + "/" + len_str + "]  ";
    }
  } else if (ctx.mode == Mode::kTrain) {
    const std::string max_str = std::to_string(ctx.max_iters);
    line = "Iter(train) [" + rjust(std::to_string(get_iter(ctx)), max_str.size()) + "/" + max_str +
           "]  ";
  } else {
    line = "Iter(" + mode + ") [" + rjust(std::to_string(ctx.batch_idx + 1), len_str.size()) + "/" +
           len_str + "]  ";
  }
  tag["iter"] = ctx.train_loop_built ? ctx.iter + 1 : 0;
  line += lr_str + "  ";

  if (log_tag.contains("time") && log_tag.contains("data_time") && hub.has_info("eta")) {
    const nlohmann::json eta = hub.get_info("eta");
    MMHOOK_CHECK(eta.is_number(), "MessageHub info 'eta' must be a number, got ", eta.dump());
    line += "eta: " + py_timedelta_str(static_cast<int64_t>(eta.get<double>())) + "  ";
    line += "time: " + py_format_fixed(log_tag["time"].get<double>(), nd) + "  ";
    line += "data_time: " + py_format_fixed(log_tag["data_time"].get<double>(), nd) + "  ";
    log_tag.erase("time");
    log_tag.erase("data_time");
  }
  if (ctx.memory_mb >= 0) {
    line += "memory: " + std::to_string(ctx.memory_mb) + "  ";
    tag["memory"] = ctx.memory_mb;
  }
  if (ctx.mode == Mode::kTrain || ctx.mode == Mode::kVal) {
    bool first = true;
    for (auto it = log_tag.begin(); it != log_tag.end(); ++it) {
      if (ctx.mode == Mode::kVal && !starts_with(it.key(), "val/loss")) continue;
      if (!first) line += "  ";
      first = false;
      line += it.key() + ": " + py_format_fixed(it.value().get<double>(), nd);
    }
  }
  return {std::move(tag), escape_control_chars(std::move(line))};
}

std::pair<nlohmann::ordered_json, std::string> LogProcessor::get_log_after_epoch(
    const MessageHub& hub, const LogContext& ctx, bool with_non_scalar) const {
  MMHOOK_CHECK(ctx.mode == Mode::kVal || ctx.mode == Mode::kTest,
               "get_log_after_epoch only accepts val or test mode, but got ", mode_name(ctx.mode));
  const std::string mode(mode_name(ctx.mode));
  const std::string prefix = mode + "/";
  const int nd = options_.num_digits;
  const std::string len_str = std::to_string(ctx.dataloader_len);
  std::string line;
  if (options_.by_epoch && ctx.mode == Mode::kVal) {
    line = "Epoch(val) [" + std::to_string(get_epoch(ctx)) + "][" + len_str + "/" + len_str + "]  ";
  } else if (options_.by_epoch) {
    line = "Epoch(test) [" + len_str + "/" + len_str + "]  ";
  } else {
    line = "Iter(" + mode + ") [" + len_str + "/" + len_str + "]  ";
  }

  std::vector<CustomEntry> entries = custom_;
  bool has_time = false;
  bool has_data_time = false;
  for (const auto& e : custom_) {
    const std::string key = remove_prefix(e.data_src, prefix);
    has_time = has_time || key == "time";
    has_data_time = has_data_time || key == "data_time";
  }
  if (!has_time) entries.push_back(CustomEntry{"time", "time", "mean", "epoch"});
  if (!has_data_time) entries.push_back(CustomEntry{"data_time", "data_time", "mean", "epoch"});

  const nlohmann::ordered_json ori_tag =
      collect_scalars(hub, ctx, entries, options_.log_with_hierarchy);
  const nlohmann::ordered_json non_scalar = collect_non_scalars(hub, ctx);
  nlohmann::ordered_json tag = nlohmann::ordered_json::object();
  nlohmann::ordered_json time_tag = nlohmann::ordered_json::object();
  for (auto it = ori_tag.begin(); it != ori_tag.end(); ++it) {
    const std::string& k = it.key();
    if (k == prefix + "time" || k == prefix + "data_time" || k == "time" || k == "data_time") {
      time_tag[k] = it.value();
    } else {
      tag[k] = it.value();
    }
  }

  line += "  ";
  bool first = true;
  auto add_item = [&](const std::string& name, const nlohmann::ordered_json& v) {
    if (!first) line += "  ";
    first = false;
    line += name + ": " + (v.is_number_float() ? py_format_fixed(v.get<double>(), nd) : py_str(v));
  };
  for (auto it = tag.begin(); it != tag.end(); ++it) add_item(it.key(), it.value());
  for (auto it = non_scalar.begin(); it != non_scalar.end(); ++it) add_item(it.key(), it.value());
  for (auto it = time_tag.begin(); it != time_tag.end(); ++it) add_item(it.key(), it.value());

  if (with_non_scalar) {
    for (auto it = non_scalar.begin(); it != non_scalar.end(); ++it) tag[it.key()] = it.value();
  }
  for (auto it = time_tag.begin(); it != time_tag.end(); ++it) tag[it.key()] = it.value();
  return {std::move(tag), escape_control_chars(std::move(line))};
}

}  // namespace mmhook
