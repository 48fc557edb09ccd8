#include "mmhook/data/dataset.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/stack.h>

#include "mmhook/data/mnist.h"
#include "mmhook/data/toy_dataset.h"
#include "mmhook/data/transforms.h"

namespace mmhook {

TensorDict Dataset::get_batch(const std::vector<int64_t>& indices,
                              const std::vector<uint64_t>& sample_seeds) const {
  MMHOOK_CHECK(indices.size() == sample_seeds.size(), "Dataset::get_batch: ", indices.size(),
               " indices but ", sample_seeds.size(), " seeds");
  std::vector<TensorDict> samples;
  samples.reserve(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) samples.push_back(get(indices[i], sample_seeds[i]));
  return default_collate(samples);
}

TensorDict default_collate(const std::vector<TensorDict>& samples) {
  MMHOOK_CHECK(!samples.empty(), "default_collate: empty batch");
  TensorDict out;
  std::vector<at::Tensor> parts(samples.size());
  for (const auto& kv : samples.front()) {
    for (size_t i = 0; i < samples.size(); ++i) {
      const at::Tensor* t = samples[i].find(kv.first);
      MMHOOK_CHECK(t != nullptr, "default_collate: sample ", i, " has no key '", kv.first,
                   "' (sample 0 has it)");
      parts[i] = *t;
    }
    out.set(kv.first, at::stack(parts));
  }
  return out;
}

namespace {

MNISTOptions mnist_options(const ConfigNode& cfg) {
  MNISTOptions opt;
  opt.data_root = cfg.get<std::string>("data_root", "");
  opt.test_mode = cfg.get<bool>("test_mode", false);
  opt.cache_transformed = cfg.get<bool>("cache_transformed", opt.cache_transformed);
  // "pipeline" is MMPretrain's name for the same list.
  const char* key = cfg.has("transforms") || !cfg.has("pipeline") ? "transforms" : "pipeline";
  cfg.mark_used("transforms");
  cfg.mark_used("pipeline");
  for (const ConfigNode& t : cfg.children(key)) {
    const std::string type = t.type();
    // MMPretrain pipelines end with a packing step; batches are already packed here.
    if (type == "PackInputs" || type == "PackClsInputs") continue;
    opt.transforms.push_back(build_transform(t));
  }
  return opt;
}

void register_builtin_datasets(Registry<Dataset>& r) {
  r.add("ToyDataset", [](const ConfigNode& cfg) {
    return std::make_shared<ToyDataset>(cfg.get<int64_t>("num_samples", 12));
  });
  r.add("FashionMNIST",
        [](const ConfigNode& cfg) { return std::make_shared<FashionMNIST>(mnist_options(cfg)); });
  r.add("MNIST", [](const ConfigNode& cfg) { return std::make_shared<MNIST>(mnist_options(cfg)); });
}

}  // namespace

Registry<Dataset>& dataset_registry() {
  static Registry<Dataset>* registry = [] {
    auto* r = new Registry<Dataset>("dataset");
    register_builtin_datasets(*r);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
