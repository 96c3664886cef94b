/*
 * The tokenizers of self-bootstrapped ClusterMIM: round r+1 clusters the patch features of the
 * round-r encoder (a checkpoint), at a teacher block chosen by a stated rule.
 *
 * The rule is a block number (-1 = after the final norm) or "auto": fit feature K-means (same K)
 * for every block on one part of the *training* split and keep the block whose tokens have the
 * lowest TCAS on another part of the training split; test labels are never used. The choice and
 * the round's tokenizer are saved in the run folder with their provenance (the teacher file's
 * content key, the rule or block, the feature K-means settings, the split's identity) and reused
 * only when it matches; otherwise loading them is an Error saying what differs. The split is any
 * ImageSource: the sweep reads its two parts through views (source_subset.h), so a streamed
 * split decodes only the images the sweep uses; "auto" needs labels.
 */
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tokenizers/feature_kmeans.h"

namespace clustermim {

/// The chosen block and, for "auto", the sweep behind it ([{block, tcas}]).
struct BlockChoice {
  int64_t block = -1;
  nlohmann::json sweep = nlohmann::json::array();
};

/// "auto" -> nullopt, "<integer>" -> the block; Error naming `setting` otherwise.
std::optional<int64_t> parse_block_rule(const std::string& rule, const std::string& setting);

/// Applies `rule` (nullopt = "auto") to the encoder in checkpoint `teacher`; `base` gives K, the
/// geometry and the K-means settings (its block is ignored). Error naming the source when "auto"
/// meets an unlabeled one.
BlockChoice choose_teacher_block(const std::string& teacher, std::optional<int64_t> rule,
                                 const FeatureKMeansOptions& base, const ImageSource& train,
                                 const ChannelStats& stats, torch::Device device);

/// The block choice saved at `choice_file` when it was made for the same teacher file, rule and
/// settings (Error naming what differs, with `fresh_hint`, otherwise); else chosen and saved.
/// The file holds {"teacher", "block", "sweep", "rule", "provenance"}.
nlohmann::json prepare_block_choice(const std::string& choice_file, const std::string& teacher,
                                    const std::string& rule, const FeatureKMeansOptions& base,
                                    const ImageSource& train, const ChannelStats& stats,
                                    const std::string& fresh_hint, torch::Device device);

/// The round's feature tokenizer: `saved` when it was made from the same teacher file, block and
/// settings (checked as above), else fitted on `train` from checkpoint `teacher` at `o.block`
/// and saved there; moved to `device`.
std::unique_ptr<Tokenizer> prepare_round_tokenizer(const std::string& teacher,
                                                   const FeatureKMeansOptions& o,
                                                   const ImageSource& train,
                                                   const ChannelStats& stats,
                                                   const std::string& saved,
                                                   const std::string& fresh_hint,
                                                   torch::Device device);

}  // namespace clustermim
