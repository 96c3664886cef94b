/*
 * Training checkpoints of a run folder: names, rotation, resume (see checkpoint.h).
 */
#include "train/checkpoint.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

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
  OptimizerState state;
  if (optimizer != nullptr) {
    state.steps = optimizer->steps();
    for (const AdamWParam& q : optimizer->params()) {
      state.moments.push_back({q.name, q.exp_avg, q.exp_avg_sq});
    }
  }
  const std::optional<TensorFile> tokenizer_file =
      tokenizer != nullptr ? std::optional<TensorFile>(tokenizer->to_file()) : std::nullopt;
  const std::string path = (fs::path(dir) / checkpoint_name(info.position.step)).string();
  remove_stale_temp_files(dir);
  write_checkpoint(path, model, optimizer != nullptr ? &state : nullptr,
                   tokenizer_file ? &*tokenizer_file : nullptr, info);
  if (keep > 0) {
    const auto all = list_checkpoints(dir);
    for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) fs::remove(all[i].second);
  }
  return path;
}

void restore_optimizer(const Checkpoint& checkpoint, AdamW& optimizer) {
  CM_REQUIRE(checkpoint.optimizer_steps.has_value(), checkpoint.source(), ": has no optimizer state");
  for (AdamWParam& q : optimizer.params()) {
    OptimizerMoments moments{q.name, q.exp_avg, q.exp_avg_sq};
    restore_moments(checkpoint, moments);
  }
  optimizer.set_steps(*checkpoint.optimizer_steps);
}

std::string latest_checkpoint(const std::string& dir) {
  for (const auto& [step, path] : list_checkpoints(dir)) {
    try {
      check_checkpoint_file(path);
      return path;
    } catch (const Error& e) {
      spdlog::warn("skipping damaged checkpoint: {}", e.what());
    }
  }
  return "";
}

}  // namespace clustermim
