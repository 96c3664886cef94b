/*
 * Training checkpoints (see checkpoint.h).
 */
#include "train/checkpoint.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "backend/tensor_io.h"
#include "core/error.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointMagic = "CMCK";
const std::string kModel = "model/", kExpAvg = "adamw/exp_avg/", kExpAvgSq = "adamw/exp_avg_sq/",
                  kTokenizer = "tokenizer/";

/// Checkpoint files in `dir`, newest (highest step) first.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ckpt-", 0) != 0 || entry.path().extension() != ".cmck") continue;
    const std::string digits = name.substr(5, name.size() - 5 - 5);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoll(digits), entry.path().string());
  }
  std::sort(found.rbegin(), found.rend());
  return found;
}

/// Deletes "ckpt-*.cmck.tmp.<pid>" files that a killed writer left behind (never a checkpoint).
void remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && name.find(".cmck.tmp.") != std::string::npos) {
      spdlog::info("removing {} (left by an interrupted checkpoint write)", entry.path().string());
      fs::remove(entry.path(), ec);
    }
  }
}

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "ckpt-%09ld.cmck", static_cast<long>(step));
  return name;
}

}  // namespace

std::string save_checkpoint(const std::string& dir, torch::nn::Module& model, const AdamW* optimizer,
                            const Tokenizer* tokenizer, const CheckpointInfo& info, int keep) {
  TensorFile file;
  file.magic = kCheckpointMagic;
  const TrainPosition& p = info.position;
  file.meta = {{"step", p.step}, {"epoch", p.epoch}, {"batch_in_epoch", p.batch_in_epoch},
               {"config", info.config}, {"extra", info.extra}};
  for (const auto& item : model.named_parameters()) put_tensor(file, kModel + item.key(), item.value());
  for (const auto& item : model.named_buffers()) put_tensor(file, kModel + item.key(), item.value());
  if (optimizer != nullptr) {
    file.meta["adamw_steps"] = optimizer->steps();
    for (const AdamWParam& q : optimizer->params()) {
      put_tensor(file, kExpAvg + q.name, q.exp_avg);
      put_tensor(file, kExpAvgSq + q.name, q.exp_avg_sq);
    }
  }
  if (tokenizer != nullptr) {
    TensorFile t = tokenizer->to_file();
    file.meta["tokenizer"] = t.meta;
    for (TensorRecord& r : t.tensors) {
      r.name = kTokenizer + r.name;
      file.tensors.push_back(std::move(r));
    }
  }
  const std::string path = (fs::path(dir) / checkpoint_name(p.step)).string();
  remove_stale_temp_files(dir);
  save_tensor_file(path, file);
  if (keep > 0) {
    const auto all = list_checkpoints(dir);
    for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) fs::remove(all[i].second);
  }
  return path;
}

Checkpoint load_checkpoint(const std::string& path) {
  Checkpoint c;
  c.file = load_tensor_file(path, kCheckpointMagic);
  try {
    c.info.position = {c.file.meta.at("step").get<int64_t>(), c.file.meta.at("epoch").get<int64_t>(),
                       c.file.meta.at("batch_in_epoch").get<int64_t>()};
    c.info.config = c.file.meta.at("config");
    c.info.extra = c.file.meta.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a valid checkpoint (", e.what(), ")");
  }
  return c;
}

void restore_model(const Checkpoint& checkpoint, torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, torch::Tensor& target) {
    const torch::Tensor value = get_tensor(checkpoint.file, kModel + name, target.sizes());
    target.copy_(value);
  };
  for (auto& item : model.named_parameters()) restore(item.key(), item.value());
  for (auto& item : model.named_buffers()) restore(item.key(), item.value());
}

void restore_optimizer(const Checkpoint& checkpoint, AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  CM_REQUIRE(checkpoint.file.meta.contains("adamw_steps"), checkpoint.file.source,
             ": has no optimizer state");
  for (AdamWParam& q : optimizer.params()) {
    q.exp_avg.copy_(get_tensor(checkpoint.file, kExpAvg + q.name, q.exp_avg.sizes()));
    q.exp_avg_sq.copy_(get_tensor(checkpoint.file, kExpAvgSq + q.name, q.exp_avg_sq.sizes()));
  }
  optimizer.set_steps(checkpoint.file.meta.at("adamw_steps").get<int64_t>());
}

std::unique_ptr<Tokenizer> checkpoint_tokenizer(const Checkpoint& checkpoint) {
  if (!checkpoint.file.meta.contains("tokenizer")) return nullptr;
  TensorFile t;
  t.magic = "CMTK";
  t.source = checkpoint.file.source;
  t.meta = checkpoint.file.meta.at("tokenizer");
  for (const TensorRecord& r : checkpoint.file.tensors) {
    if (r.name.rfind(kTokenizer, 0) != 0) continue;
    TensorRecord copy = r;
    copy.name = r.name.substr(kTokenizer.size());
    t.tensors.push_back(std::move(copy));
  }
  return tokenizer_from_file(t);
}

std::string latest_checkpoint(const std::string& dir) {
  for (const auto& [step, path] : list_checkpoints(dir)) {
    try {
      load_tensor_file(path, kCheckpointMagic);
      return path;
    } catch (const Error& e) {
      spdlog::warn("skipping damaged checkpoint: {}", e.what());
    }
  }
  return "";
}

}  // namespace clustermim
