#pragma once
/// @file
/// Forward declarations of the LibTorch frontend classes that mmhook's headers name only by
/// reference or pointer. Including `<torch/nn/module.h>` costs ~8 s of compile per translation
/// unit (it parses ATen's whole operator set and the serialization archives); a header that only
/// passes a `torch::nn::Module&` along includes this instead, and a source that calls the
/// module's members includes `<torch/nn/module.h>` itself.

namespace torch {
namespace nn {
class Module;
}  // namespace nn
}  // namespace torch
