#include "mmhook/optim/optimizer_builder.h"

#include <algorithm>
#include <cmath>

#include <torch/nn/modules/conv.h>
#include <spdlog/spdlog.h>

#include "mmhook/core/error.h"
#include "optim/optimizer_types.h"

namespace mmhook {

namespace {

using torch::optim::OptimizerOptions;
using torch::optim::OptimizerParamGroup;

// The optimizer type named by `type`, or a config error listing the known ones.
const detail::OptimizerType& optimizer_type_of(const ConfigNode& cfg, const std::string& type) {
  if (const detail::OptimizerType* t = detail::find_optimizer_type(type)) return *t;
  const std::string hint = did_you_mean(type, detail::optimizer_type_names());
  cfg.fail("type", "unknown optimizer type '" + type + "' (expected " +
                       detail::optimizer_type_list() + ")" +
                       (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
}

bool is_norm_module(const torch::nn::Module& m) {
  const std::string& n = m.name();
  for (const char* k : {"BatchNorm", "InstanceNorm", "GroupNorm", "LayerNorm"})
    if (n.find(k) != std::string::npos) return true;
  return false;
}

bool is_depthwise_conv(const torch::nn::Module& m) {
  const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(&m);
  return conv != nullptr && conv->options.in_channels() == conv->options.groups();
}

// MMEngine's DefaultOptimWrapperConstructor.add_params, one group per parameter.
struct ParamwiseBuilder {
  const detail::OptimizerType* type = nullptr;
  const OptimizerOptions* defaults;
  std::optional<double> base_lr, base_wd;
  std::vector<std::pair<std::string, OrderedMap<double>>> custom_keys;  // sorted
  std::optional<double> bias_lr_mult, bias_decay_mult, norm_decay_mult, dwconv_decay_mult,
      flat_decay_mult, dcn_offset_lr_mult;
  bool bypass_duplicate = false;
  std::vector<OptimizerParamGroup> groups;
  std::vector<OrderedMap<double>> extras;
  std::set<const void*> seen;

  void set(std::unique_ptr<OptimizerOptions>& opts, OrderedMap<double>& extra,
           const std::string& key, double v) {
    if (!type->set(*opts, key, v)) extra.set(key, v);
  }

  void add_params(torch::nn::Module& module, const std::string& prefix) {
    const bool is_norm = is_norm_module(module);
    const bool is_dwconv = is_depthwise_conv(module);
    // LibTorch has no deformable convolution, so is_dcn_module is always false.
    for (auto& np : module.named_parameters(/*recurse=*/false)) {
      const std::string& name = np.key();
      const at::Tensor& param = np.value();
      auto opts = defaults->clone();
      OrderedMap<double> extra;
      const void* id = param.unsafeGetTensorImpl();
      if (seen.count(id)) {
        if (bypass_duplicate) {
          spdlog::warn("{} is duplicate. It is skipped since bypass_duplicate={}",
                       prefix + "." + name, bypass_duplicate ? "True" : "False");
          continue;
        }
        MMHOOK_THROW(Code::kConfig,
                     "optim_wrapper: some parameters appear in more than one parameter group ('",
                     prefix, ".", name, "'); set paramwise_cfg.bypass_duplicate=true to skip them");
      }
      seen.insert(id);
      if (!param.requires_grad()) {
        groups.emplace_back(std::vector<at::Tensor>{param}, std::move(opts));
        extras.push_back(std::move(extra));
        continue;
      }
      const std::string full = prefix + "." + name;
      bool is_custom = false;
      for (const auto& ck : custom_keys) {
        if (full.find(ck.first) == std::string::npos) continue;
        is_custom = true;
        const double* lr_mult = ck.second.find("lr_mult");
        set(opts, extra, "lr", *base_lr * (lr_mult ? *lr_mult : 1.0));
        if (base_wd) {
          const double* decay_mult = ck.second.find("decay_mult");
          set(opts, extra, "weight_decay", *base_wd * (decay_mult ? *decay_mult : 1.0));
        }
        for (const auto& kv : ck.second) set(opts, extra, kv.first, kv.second);
        break;
      }
      if (!is_custom) {
        if (name == "bias" && !is_norm && bias_lr_mult)
          set(opts, extra, "lr", *base_lr * *bias_lr_mult);
        if (base_wd) {
          if (is_norm && norm_decay_mult)
            set(opts, extra, "weight_decay", *base_wd * *norm_decay_mult);
          else if (name == "bias" && bias_decay_mult)
            set(opts, extra, "weight_decay", *base_wd * *bias_decay_mult);
          else if (is_dwconv && dwconv_decay_mult)
            set(opts, extra, "weight_decay", *base_wd * *dwconv_decay_mult);
          else if (param.dim() == 1 && flat_decay_mult)
            set(opts, extra, "weight_decay", *base_wd * *flat_decay_mult);
        }
      }
      groups.emplace_back(std::vector<at::Tensor>{param}, std::move(opts));
      extras.push_back(std::move(extra));
    }
    for (auto& child : module.named_children()) {
      const std::string child_prefix = prefix.empty() ? child.key() : prefix + "." + child.key();
      add_params(*child.value(), child_prefix);
    }
  }
};

std::string json_number(double v) { return nlohmann::json(v).dump(); }

std::optional<ClipGradOptions> parse_clip_grad(const ConfigNode& parent) {
  if (!parent.has("clip_grad")) {
    parent.mark_used("clip_grad");
    return std::nullopt;
  }
  if (!parent.json().at("clip_grad").is_object() || parent.json().at("clip_grad").empty())
    parent.fail("clip_grad",
                "If clip_grad is not None, it should be a non-empty dict with the clip arguments");
  ConfigNode cfg = parent.child("clip_grad");
  ClipGradOptions o;
  o.type = cfg.get<std::string>("type", "norm");
  if (o.type == "norm") {
    o.max_norm = cfg.require<double>("max_norm");
    o.norm_type = cfg.get<double>("norm_type", 2.0);
    // clip_grad_norm_ scales gradients by max_norm / total_norm: a negative max_norm flips
    // every gradient, 0 erases them, and neither is a clipping anyone asked for.
    if (!(o.max_norm > 0) || !std::isfinite(o.max_norm))
      cfg.fail("max_norm", "must be a finite number > 0, got " + json_number(o.max_norm));
    if (!(o.norm_type > 0))
      cfg.fail("norm_type", "must be > 0 (or inf), got " + json_number(o.norm_type));
  } else if (o.type == "value") {
    o.clip_value = cfg.require<double>("clip_value");
    if (!(o.clip_value > 0) || !std::isfinite(o.clip_value))
      cfg.fail("clip_value", "must be a finite number > 0, got " + json_number(o.clip_value));
  } else {
    cfg.fail("type", "type of clip_grad should be 'norm' or 'value' but got '" + o.type + "'");
  }
  cfg.check_unused();
  return o;
}

std::shared_ptr<OptimWrapper> build_single(const ConfigNode& cfg, torch::nn::Module& model) {
  const std::string type = cfg.get<std::string>("type", "OptimWrapper");
  if (type != "OptimWrapper" && type != "AmpOptimWrapper") {
    auto h = did_you_mean(type, {"OptimWrapper", "AmpOptimWrapper"});
    cfg.fail("type", "unknown optim_wrapper type '" + type + "'" +
                         (h.empty() ? std::string() : " (did you mean '" + h + "'?)"));
  }
  const std::string constructor =
      cfg.get<std::string>("constructor", "DefaultOptimWrapperConstructor");
  if (constructor != "DefaultOptimWrapperConstructor")
    cfg.fail("constructor",
             "unknown constructor '" + constructor + "' (only DefaultOptimWrapperConstructor)");
  ConfigNode opt_cfg = cfg.child("optimizer");
  ConfigNode paramwise = cfg.child("paramwise_cfg");
  std::vector<OrderedMap<double>> extras;
  auto optimizer = build_optimizer(opt_cfg, model, paramwise, &extras);
  const std::string opt_type = opt_cfg.type();
  const int64_t acc = cfg.get<int64_t>("accumulative_counts", 1);
  if (acc < 1) cfg.fail("accumulative_counts", "must be >= 1, got " + std::to_string(acc));
  auto clip = parse_clip_grad(cfg);
  std::shared_ptr<OptimWrapper> wrapper;
  if (type == "AmpOptimWrapper") {
    nlohmann::json loss_scale = cfg.get<nlohmann::json>("loss_scale", nlohmann::json("dynamic"));
    auto dtype = cfg.get_optional<std::string>("dtype");
    try {
      wrapper =
          std::make_shared<AmpOptimWrapper>(optimizer, opt_type, loss_scale, dtype, acc, clip);
    } catch (const Error& e) {
      MMHOOK_THROW(Code::kConfig, cfg.path().empty() ? "" : cfg.path() + ": ", e.what());
    }
  } else {
    wrapper = std::make_shared<OptimWrapper>(optimizer, opt_type, acc, clip);
  }
  for (size_t g = 0; g < extras.size(); ++g)
    for (const auto& kv : extras[g]) wrapper->set_group_value(g, kv.first, kv.second);
  cfg.check_unused();
  return wrapper;
}

bool is_wrapper_dict_cfg(const ConfigNode& cfg) {
  const auto& j = cfg.json();
  if (j.empty() || j.contains("optimizer") || j.contains("type") || j.contains("constructor"))
    return false;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!it.value().is_object() || !it.value().contains("optimizer")) return false;
  return true;
}

}  // namespace

std::shared_ptr<torch::optim::Optimizer> build_optimizer(
    const ConfigNode& cfg, torch::nn::Module& model, const ConfigNode& paramwise_cfg,
    std::vector<OrderedMap<double>>* group_extras) {
  const detail::OptimizerType& type = optimizer_type_of(cfg, cfg.type());
  auto defaults = type.parse(cfg);
  // Without one trainable parameter the first backward fails with LibTorch's "element 0 of
  // tensors does not require grad", naming nothing (a TorchScript file saved with frozen or no
  // parameters, say).
  const std::vector<at::Tensor> params = model.parameters();
  if (std::none_of(params.begin(), params.end(),
                   [](const at::Tensor& p) { return p.requires_grad(); }))
    MMHOOK_THROW(Code::kConfig, cfg.path().empty() ? "optimizer" : cfg.path(), ": the model has ",
                 params.empty() ? "no parameters" : "no parameter that requires grad",
                 ": there is nothing to train");
  std::vector<OptimizerParamGroup> groups;
  std::vector<OrderedMap<double>> extras;
  if (paramwise_cfg.json().empty()) {
    groups.emplace_back(model.parameters(), defaults->clone());
    extras.emplace_back();
  } else {
    ParamwiseBuilder b;
    b.type = &type;
    b.defaults = defaults.get();
    b.base_lr = cfg.get_optional<double>("lr");
    if (!b.base_lr) b.base_lr = type.get(*defaults, "lr");
    b.base_wd = cfg.get_optional<double>("weight_decay");
    const ConfigNode& pw = paramwise_cfg;
    ConfigNode ck = pw.child("custom_keys");
    std::vector<std::string> names;
    for (auto it = ck.json().begin(); it != ck.json().end(); ++it) names.push_back(it.key());
    std::sort(names.begin(), names.end());
    std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() > b.size();
    });
    for (const auto& n : names) {
      ConfigNode entry = ck.child(n);
      OrderedMap<double> fields;
      for (auto it = entry.json().begin(); it != entry.json().end(); ++it)
        fields.set(it.key(), entry.require<double>(it.key()));
      if (fields.contains("decay_mult") && !b.base_wd)
        entry.fail("decay_mult", "base_wd should not be None");
      b.custom_keys.emplace_back(n, std::move(fields));
    }
    b.bias_lr_mult = pw.get_optional<double>("bias_lr_mult");
    b.bias_decay_mult = pw.get_optional<double>("bias_decay_mult");
    b.norm_decay_mult = pw.get_optional<double>("norm_decay_mult");
    b.dwconv_decay_mult = pw.get_optional<double>("dwconv_decay_mult");
    b.flat_decay_mult = pw.get_optional<double>("flat_decay_mult");
    b.dcn_offset_lr_mult = pw.get_optional<double>("dcn_offset_lr_mult");
    b.bypass_duplicate = pw.get<bool>("bypass_duplicate", false);
    if (!b.base_wd) {
      for (const char* k :
           {"bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult", "flat_decay_mult"})
        if (pw.has(k)) pw.fail(k, "base_wd should not be None");
    }
    pw.check_unused();
    b.add_params(model, "");
    groups = std::move(b.groups);
    extras = std::move(b.extras);
  }
  cfg.check_unused();
  if (group_extras) *group_extras = std::move(extras);
  return type.make(std::move(groups), *defaults);
}

std::shared_ptr<OptimWrapper> build_optim_wrapper(const ConfigNode& cfg, torch::nn::Module& model) {
  if (!is_wrapper_dict_cfg(cfg)) return build_single(cfg, model);
  auto children = model.named_children();
  std::vector<std::pair<std::string, std::shared_ptr<OptimWrapper>>> wrappers;
  for (auto it = cfg.json().begin(); it != cfg.json().end(); ++it) {
    const std::string& name = it.key();
    ConfigNode sub = cfg.child(name);
    auto* child = children.find(name);
    if (child == nullptr) cfg.fail(name, "the model has no child module named '" + name + "'");
    wrappers.emplace_back(name, build_single(sub, **child));
  }
  return std::make_shared<OptimWrapperDict>(std::move(wrappers));
}

}  // namespace mmhook
