/*
 * The training checkpoint file (see checkpoint_file.h).
 */
#include "models/checkpoint_file.h"

#include "backend/tensor_io.h"
#include "core/error.h"

namespace clustermim {

namespace {

constexpr const char* kMagic = "CMCK";
// Record prefixes.
const std::string kModel = "model/", kExpAvg = "adamw/exp_avg/", kExpAvgSq = "adamw/exp_avg_sq/",
                  kTokenizer = "tokenizer/", kEncoder = "encoder.";
// Meta keys.
const char* const kStep = "step";
const char* const kEpoch = "epoch";
const char* const kBatchInEpoch = "batch_in_epoch";
const char* const kConfig = "config";
const char* const kExtra = "extra";
const char* const kAdamWSteps = "adamw_steps";
const char* const kTokenizerMeta = "tokenizer";
// Keys of the model spec inside "config".
const char* const kMim = "mim";
const char* const kStats = "stats";

nlohmann::json spec_to_json(const CheckpointModelSpec& spec) {
  return {{kMim, to_json(spec.mim)},
          {kStats, {{"mean", spec.stats.mean}, {"std", spec.stats.std}}}};
}

/// The model spec recorded in `config`, or nothing when it has no "mim" and "stats".
std::optional<CheckpointModelSpec> spec_from_config(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains(kMim) || !config.contains(kStats)) return std::nullopt;
  CheckpointModelSpec spec;
  spec.mim = mim_config_from_json(config.at(kMim));
  spec.stats.mean = config.at(kStats).at("mean").get<std::array<float, 3>>();
  spec.stats.std = config.at(kStats).at("std").get<std::array<float, 3>>();
  return spec;
}

/// The records of `file` under `prefix`, renamed without it.
std::vector<TensorRecord> records_under(const TensorFile& file, const std::string& prefix) {
  std::vector<TensorRecord> out;
  for (const TensorRecord& r : file.tensors) {
    if (r.name.rfind(prefix, 0) != 0) continue;
    out.push_back(r);
    out.back().name = r.name.substr(prefix.size());
  }
  return out;
}

}  // namespace

void write_checkpoint(const std::string& path, torch::nn::Module& model,
                      const OptimizerState* optimizer, const TensorFile* tokenizer,
                      const CheckpointInfo& info) {
  TensorFile file;
  file.magic = kMagic;
  const TrainPosition& p = info.position;
  nlohmann::json config = info.config;
  if (info.model) config.update(spec_to_json(*info.model));
  file.meta = {{kStep, p.step}, {kEpoch, p.epoch}, {kBatchInEpoch, p.batch_in_epoch},
               {kConfig, config}, {kExtra, info.extra}};
  for (const auto& item : model.named_parameters()) put_tensor(file, kModel + item.key(), item.value());
  for (const auto& item : model.named_buffers()) put_tensor(file, kModel + item.key(), item.value());
  if (optimizer != nullptr) {
    file.meta[kAdamWSteps] = optimizer->steps;
    for (const OptimizerMoments& m : optimizer->moments) {
      put_tensor(file, kExpAvg + m.name, m.exp_avg);
      put_tensor(file, kExpAvgSq + m.name, m.exp_avg_sq);
    }
  }
  if (tokenizer != nullptr) {
    file.meta[kTokenizerMeta] = tokenizer->meta;
    for (const TensorRecord& r : tokenizer->tensors) {
      file.tensors.push_back(r);
      file.tensors.back().name = kTokenizer + r.name;
    }
  }
  save_tensor_file(path, file);
}

Checkpoint load_checkpoint(const std::string& path) {
  Checkpoint c;
  c.file = load_tensor_file(path, kMagic);
  const nlohmann::json& m = c.file.meta;
  try {
    c.info.position = {m.at(kStep).get<int64_t>(), m.at(kEpoch).get<int64_t>(),
                       m.at(kBatchInEpoch).get<int64_t>()};
    c.info.config = m.at(kConfig);
    c.info.extra = m.value(kExtra, nlohmann::json::object());
    c.info.model = spec_from_config(c.info.config);
    if (m.contains(kAdamWSteps)) c.optimizer_steps = m.at(kAdamWSteps).get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a valid checkpoint (", e.what(), ")");
  }
  return c;
}

void check_checkpoint_file(const std::string& path) { load_tensor_file(path, kMagic); }

const CheckpointModelSpec& checkpoint_model_spec(const Checkpoint& checkpoint) {
  CM_REQUIRE(checkpoint.info.model.has_value(), checkpoint.source(),
             ": checkpoint has no model config (not written by clustermim pretrain?)");
  return *checkpoint.info.model;
}

void restore_model(const Checkpoint& checkpoint, torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, torch::Tensor& target) {
    target.copy_(get_tensor(checkpoint.file, kModel + name, target.sizes()));
  };
  for (auto& item : model.named_parameters()) restore(item.key(), item.value());
  for (auto& item : model.named_buffers()) restore(item.key(), item.value());
}

MimModel load_model(const Checkpoint& checkpoint) {
  MimModel model(checkpoint_model_spec(checkpoint).mim);
  restore_model(checkpoint, *model);
  return model;
}

void restore_moments(const Checkpoint& checkpoint, OptimizerMoments& moments) {
  torch::NoGradGuard no_grad;
  const std::string& name = moments.name;
  moments.exp_avg.copy_(get_tensor(checkpoint.file, kExpAvg + name, moments.exp_avg.sizes()));
  moments.exp_avg_sq.copy_(get_tensor(checkpoint.file, kExpAvgSq + name, moments.exp_avg_sq.sizes()));
}

SafetensorsFile checkpoint_encoder_weights(const Checkpoint& checkpoint) {
  SafetensorsFile weights;
  weights.source = checkpoint.source();
  weights.tensors = records_under(checkpoint.file, kModel + kEncoder);
  return weights;
}

std::optional<TensorFile> checkpoint_tokenizer_file(const Checkpoint& checkpoint) {
  if (!checkpoint.file.meta.contains(kTokenizerMeta)) return std::nullopt;
  TensorFile t;
  t.source = checkpoint.source();
  t.meta = checkpoint.file.meta.at(kTokenizerMeta);
  t.tensors = records_under(checkpoint.file, kTokenizer);
  return t;
}

}  // namespace clustermim
