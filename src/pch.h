// Precompiled header for the engine and its tests, used only when MMHOOK_USE_PCH=ON (local
// builds without ccache). Sources include what they use (ARCHITECTURE.md, "Include rule"):
// without a PCH nothing is force-included, so this header adds nothing to their meaning.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
