#include "mmhook/logging/vis_backend_registry.h"

namespace mmhook {

Registry<VisBackend, const VisBackendContext&>& vis_backend_registry() {
  static auto* registry = [] {
    auto* r = new Registry<VisBackend, const VisBackendContext&>("vis backend");
    r->add("LocalVisBackend", [](const ConfigNode&, const VisBackendContext& ctx) {
      return std::make_shared<LocalVisBackend>(ctx.save_dir, ctx.timestamp);
    });
    r->add("TensorboardVisBackend", [](const ConfigNode&, const VisBackendContext& ctx) {
      return std::make_shared<TensorboardVisBackend>(ctx.save_dir);
    });
    return r;
  }();
  return *registry;
}

std::vector<std::shared_ptr<VisBackend>> build_vis_backends(const std::vector<ConfigNode>& cfgs,
                                                            const VisBackendContext& context) {
  std::vector<std::shared_ptr<VisBackend>> out;
  out.reserve(cfgs.size());
  for (const ConfigNode& cfg : cfgs) out.push_back(vis_backend_registry().build(cfg, context));
  return out;
}

}  // namespace mmhook
