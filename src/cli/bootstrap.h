/*
 * Self-bootstrapped ClusterMIM: round r+1 clusters patch features of the round-r encoder.
 *
 * The teacher block follows a stated rule, `tokenizer.bootstrap_block`: a block number (-1 =
 * after the final norm), or "auto": fit feature K-means (same K) for every block on one part of
 * the *training* split and keep the block whose tokens have the lowest TCAS on another part of
 * the training split. Test labels are never used; the sweep is saved with the run.
 */
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizers/tokenizer.h"

namespace clustermim {

/// The chosen block and, for "auto", the sweep behind it ([{block, tcas}]).
struct BlockChoice {
  int64_t block = -1;
  nlohmann::json sweep = nlohmann::json::array();
};

/// Applies the tokenizer.bootstrap_block rule to the encoder in checkpoint `teacher`.
BlockChoice choose_bootstrap_block(const std::string& teacher, const nlohmann::json& config,
                                   const Dataset& train, const ChannelStats& stats,
                                   torch::Device device, int workers);

/// The round's feature tokenizer: out_dir/tokenizer-r<round>.cmtk when present, else fitted on
/// `train` from checkpoint `teacher` at `block` and saved there.
std::unique_ptr<Tokenizer> prepare_round_tokenizer(int round, const std::string& teacher,
                                                   int64_t block, const nlohmann::json& config,
                                                   const Dataset& train, const ChannelStats& stats,
                                                   const std::string& out_dir,
                                                   torch::Device device, int workers);

}  // namespace clustermim
