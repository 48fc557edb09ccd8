#pragma once
/// @file
/// The visualizer backends' registry (MMEngine's `VISBACKENDS`): `visualizer.vis_backends`
/// entries are built from it by `type`, like every other configurable type.

#include <memory>
#include <string>
#include <vector>

#include "mmhook/config/registry.h"
#include "mmhook/logging/vis_backend.h"

namespace mmhook {

/// What a backend's factory gets besides its config: where the run writes.
struct VisBackendContext {
  std::string save_dir;   ///< the run's log_dir
  std::string timestamp;  ///< the run's timestamp (file names)
};

/// The registry of backend types: LocalVisBackend and TensorboardVisBackend are built in
/// (neither takes options); users add their own with `add`.
Registry<VisBackend, const VisBackendContext&>& vis_backend_registry();

/// Builds each config in order (unknown types and unknown keys are config errors naming the
/// JSON path).
std::vector<std::shared_ptr<VisBackend>> build_vis_backends(const std::vector<ConfigNode>& cfgs,
                                                            const VisBackendContext& context);

}  // namespace mmhook
