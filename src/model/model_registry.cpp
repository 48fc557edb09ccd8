#include "mmhook/model/base_model.h"
#include "mmhook/model/cnn_classifier.h"
#include "mmhook/model/mlp_classifier.h"
#include "mmhook/model/torchscript_model.h"
#include "mmhook/model/toy_model.h"
#include "mmhook/model/trivial_classifier.h"

namespace mmhook {
namespace {

void register_builtin_models(Registry<BaseModel>& r) {
  r.add("ToyModel", [](const ConfigNode&) { return std::make_shared<ToyModel>(); });
  r.add("MLPClassifier", [](const ConfigNode& cfg) {
    MLPClassifierOptions o;
    o.in_channels = cfg.get<int64_t>("in_channels", o.in_channels);
    o.hidden_dims = cfg.get<std::vector<int64_t>>("hidden_dims", o.hidden_dims);
    o.num_classes = cfg.get<int64_t>("num_classes", o.num_classes);
    o.dropout = cfg.get<double>("dropout", o.dropout);
    o.batch_norm = cfg.get<bool>("batch_norm", o.batch_norm);
    return std::make_shared<MLPClassifier>(std::move(o));
  });
  r.add("CNNClassifier", [](const ConfigNode& cfg) {
    CNNClassifierOptions o;
    o.in_channels = cfg.get<int64_t>("in_channels", o.in_channels);
    o.input_size = cfg.get<int64_t>("input_size", o.input_size);
    o.channels = cfg.get<std::vector<int64_t>>("channels", o.channels);
    o.hidden = cfg.get<int64_t>("hidden", o.hidden);
    o.num_classes = cfg.get<int64_t>("num_classes", o.num_classes);
    o.batch_norm = cfg.get<bool>("batch_norm", o.batch_norm);
    o.dropout = cfg.get<double>("dropout", o.dropout);
    return std::make_shared<CNNClassifier>(std::move(o));
  });
  r.add("TrivialClassifier", [](const ConfigNode& cfg) {
    return std::make_shared<TrivialClassifier>(cfg.get<int64_t>("num_classes", 10));
  });
  r.add("TorchScriptModel", [](const ConfigNode& cfg) {
    TorchScriptModelOptions o;
    o.path = cfg.require<std::string>("path");
    o.optimize = cfg.get<bool>("optimize", o.optimize);
    return std::make_shared<TorchScriptModel>(std::move(o));
  });
}

}  // namespace

Registry<BaseModel>& model_registry() {
  static Registry<BaseModel>* registry = [] {
    auto* r = new Registry<BaseModel>("model");
    register_builtin_models(*r);
    return r;
  }();
  return *registry;
}

}  // namespace mmhook
