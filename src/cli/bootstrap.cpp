/*
 * Bootstrapped rounds (see bootstrap.h).
 */
#include "cli/bootstrap.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "cli/context.h"
#include "cli/run_config.h"
#include "core/error.h"
#include "data/subset.h"
#include "metrics/tcas.h"
#include "tokenizers/feature_kmeans.h"

namespace clustermim {

namespace {

/// tokenizer.bootstrap_block as a block number, or nullopt for "auto".
std::optional<int64_t> fixed_block(const nlohmann::json& config) {
  const std::string rule = config["tokenizer"]["bootstrap_block"].get<std::string>();
  if (rule == "auto") return std::nullopt;
  try {
    size_t used = 0;
    const int64_t block = std::stoll(rule, &used);
    if (used == rule.size()) return block;
  } catch (const std::exception&) {
  }
  fail("tokenizer.bootstrap_block: expected \"auto\" or a block number, got '", rule, "'");
}

FeatureKMeansOptions feature_options(const nlohmann::json& config, int64_t block, int workers) {
  const BuildOptions b = tokenizer_build_options(config, workers);
  FeatureKMeansOptions o;
  o.vocab = b.fit.vocab;
  o.block = block;
  o.normalize = b.normalize_features;
  o.patch_size = b.fit.patch_size;
  o.image_size = b.fit.image_size;
  o.max_patches = b.fit.max_patches;
  o.iterations = b.fit.iterations;
  o.seed = b.fit.seed;
  o.workers = workers;
  o.bf16 = config["pretrain"]["bf16"].get<bool>();
  return o;
}

}  // namespace

BlockChoice choose_bootstrap_block(const std::string& teacher, const nlohmann::json& config,
                                   const Dataset& train, const ChannelStats& stats,
                                   torch::Device device, int workers) {
  BlockChoice choice;
  if (const auto block = fixed_block(config)) {
    choice.block = *block;
    return choice;
  }
  FeatureKMeansOptions o = feature_options(config, -1, workers);
  o.max_patches = std::min<int64_t>(o.max_patches, 50000);
  const int64_t grid = o.image_size / o.patch_size;
  const Teacher base = load_teacher(teacher, grid);
  // Two disjoint random parts of the training split: one to fit, one to score.
  const int64_t n_fit = std::min<int64_t>(train.size() / 2, 10000);
  const int64_t n_score = std::min<int64_t>(train.size() - n_fit, 5000);
  const auto [fit_rows, score_rows] = sample_disjoint_indices(train.size(), n_fit, n_score, o.seed + 7);
  const Dataset fit_part = subset_dataset(train, fit_rows);
  const Dataset score_part = subset_dataset(train, score_rows);
  const int64_t depth = base.encoder->config().depth;
  double best = 2.0;
  for (int64_t block = -1; block < depth; ++block) {
    o.block = block;
    const auto tokenizer = fit_feature_kmeans(base, fit_part, stats, o, device);
    const double tcas =
        compute_tcas(count_token_classes(*tokenizer, score_part, workers, device)).tcas;
    spdlog::info("bootstrap block sweep: {} TCAS {:.4f} (train split, held-out part)",
                 block < 0 ? std::string("final norm") : "block " + std::to_string(block), tcas);
    choice.sweep.push_back({{"block", block}, {"tcas", tcas}});
    if (tcas < best) {
      best = tcas;
      choice.block = block;
    }
  }
  spdlog::info("bootstrap teacher block: {} (lowest TCAS on held-out training images)", choice.block);
  return choice;
}

std::unique_ptr<Tokenizer> prepare_round_tokenizer(int round, const std::string& teacher,
                                                   int64_t block, const nlohmann::json& config,
                                                   const Dataset& train, const ChannelStats& stats,
                                                   const std::string& out_dir,
                                                   torch::Device device, int workers) {
  const std::string saved = out_dir + "/tokenizer-r" + std::to_string(round) + ".cmtk";
  std::unique_ptr<Tokenizer> tokenizer;
  if (std::filesystem::exists(saved)) {
    tokenizer = load_tokenizer(saved);
  } else {
    const FeatureKMeansOptions o = feature_options(config, block, workers);
    tokenizer = fit_feature_kmeans(load_teacher(teacher, o.image_size / o.patch_size), train,
                                   stats, o, device);
    tokenizer->save(saved);
  }
  tokenizer->to(device);
  spdlog::info("round {} tokenizer: feature-kmeans (K = {}) on {} -> {}", round,
               tokenizer->spec().vocab, teacher, saved);
  return tokenizer;
}

}  // namespace clustermim
