// Precompiled header for the engine and its tests: the LibTorch headers cost ~12 s per
// translation unit otherwise. Sources still include what they use.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
