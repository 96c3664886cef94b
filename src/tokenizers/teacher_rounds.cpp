/*
 * Bootstrapped rounds' teacher blocks and tokenizers (see teacher_rounds.h).
 */
#include "tokenizers/teacher_rounds.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/subset.h"
#include "io/file_util.h"
#include "metrics/tcas.h"
#include "tokenizers/prepared_tokenizer.h"
#include "data/source_subset.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {

namespace {

/// What a round's block choice or tokenizer depends on.
Provenance round_provenance(const std::string& teacher, const FeatureKMeansOptions& o,
                            const ImageSource& train) {
  Fingerprint key;
  key.add_path(teacher, false);
  Provenance p;
  p.set("teacher", teacher + "@" + key.hex());
  p.set("data", train.identity());
  p.set_all("tokenizer", nlohmann::json{{"vocab", o.vocab}, {"normalize_features", o.normalize},
                                        {"patch_size", o.patch_size}, {"image_size", o.image_size},
                                        {"max_patches", o.max_patches},
                                        {"iterations", o.iterations}, {"seed", o.seed},
                                        {"bf16", o.bf16}});
  return p;
}

}  // namespace

std::optional<int64_t> parse_block_rule(const std::string& rule, const std::string& setting) {
  if (rule == "auto") return std::nullopt;
  try {
    size_t used = 0;
    const int64_t block = std::stoll(rule, &used);
    if (used == rule.size()) return block;
  } catch (const std::exception&) {
  }
  fail(setting, ": expected \"auto\" or a block number, got '", rule, "'");
}

BlockChoice choose_teacher_block(const std::string& teacher, std::optional<int64_t> rule,
                                 const FeatureKMeansOptions& base, const ImageSource& train,
                                 const ChannelStats& stats, torch::Device device) {
  BlockChoice choice;
  if (rule) {
    choice.block = *rule;
    return choice;
  }
  CM_REQUIRE(train.num_classes() > 0, train.name(), ": the teacher block rule \"auto\" picks ",
             "the block by TCAS, which needs labels; this source is unlabeled (give a block number)");
  FeatureKMeansOptions o = base;
  o.max_patches = std::min<int64_t>(o.max_patches, 50000);
  const FrozenEncoder model = load_encoder(teacher, o.image_size / o.patch_size);
  // Two disjoint random parts of the training split: one to fit, one to score.
  const int64_t n_fit = std::min<int64_t>(train.size() / 2, 10000);
  const int64_t n_score = std::min<int64_t>(train.size() - n_fit, 5000);
  const auto [fit_rows, score_rows] = sample_disjoint_indices(train.size(), n_fit, n_score, o.seed + 7);
  const SubsetImageSource fit_part(train, fit_rows);
  const SubsetImageSource score_part(train, score_rows);
  const int64_t depth = model.encoder->config().depth;
  double best = 2.0;
  for (int64_t block = -1; block < depth; ++block) {
    o.block = block;
    const auto tokenizer = fit_feature_kmeans(model, fit_part, stats, o, device);
    const double tcas =
        compute_tcas(count_token_classes(*tokenizer, score_part, o.workers, device, 0.f,
                                         o.max_bad_fraction)).tcas;
    spdlog::info("teacher block sweep: {} TCAS {:.4f} (train split, held-out part)",
                 block < 0 ? std::string("final norm") : "block " + std::to_string(block), tcas);
    choice.sweep.push_back({{"block", block}, {"tcas", tcas}});
    if (tcas < best) {
      best = tcas;
      choice.block = block;
    }
  }
  spdlog::info("teacher block: {} (lowest TCAS on held-out training images)", choice.block);
  return choice;
}

nlohmann::json prepare_block_choice(const std::string& choice_file, const std::string& teacher,
                                    const std::string& rule, const FeatureKMeansOptions& base,
                                    const ImageSource& train, const ChannelStats& stats,
                                    const std::string& fresh_hint, torch::Device device) {
  Provenance wanted = round_provenance(teacher, base, train);
  wanted.set("rule", rule);
  if (std::filesystem::exists(choice_file)) {
    const std::vector<uint8_t> bytes = read_file_bytes(choice_file);
    const nlohmann::json saved = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    CM_REQUIRE(saved.is_object() && saved.contains("block") && saved["block"].is_number_integer(),
               choice_file, ": not a block choice file; ", fresh_hint);
    const std::string why = wanted.describe_mismatch(
        Provenance::from_json(saved.value("provenance", nlohmann::json())));
    CM_REQUIRE(why.empty(), choice_file, ": made under other settings (", why, "); ", fresh_hint);
    return saved;
  }
  const BlockChoice c = choose_teacher_block(teacher, parse_block_rule(rule, "teacher block rule"),
                                             base, train, stats, device);
  const nlohmann::json choice = {{"teacher", teacher}, {"block", c.block}, {"sweep", c.sweep},
                                 {"rule", rule}, {"provenance", wanted.to_json()}};
  write_file_atomic(choice_file, choice.dump(2) + "\n");
  return choice;
}

std::unique_ptr<Tokenizer> prepare_round_tokenizer(const std::string& teacher,
                                                   const FeatureKMeansOptions& o,
                                                   const ImageSource& train,
                                                   const ChannelStats& stats,
                                                   const std::string& saved,
                                                   const std::string& fresh_hint,
                                                   torch::Device device) {
  Provenance wanted = round_provenance(teacher, o, train);
  wanted.set("tokenizer.block", std::to_string(o.block));
  std::unique_ptr<Tokenizer> tokenizer;
  if (std::filesystem::exists(saved)) {
    tokenizer = load_tokenizer_checked(saved, wanted, fresh_hint);
  } else {
    tokenizer = fit_feature_kmeans(load_encoder(teacher, o.image_size / o.patch_size), train,
                                   stats, o, device);
    save_tokenizer(*tokenizer, wanted, saved);
  }
  tokenizer->to(device);
  spdlog::info("round tokenizer: feature-kmeans (K = {}) on {} block {} -> {}",
               tokenizer->spec().vocab, teacher, o.block, saved);
  return tokenizer;
}

}  // namespace clustermim
