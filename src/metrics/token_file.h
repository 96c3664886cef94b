/*
 * Token files: token ids [N, L] and class labels [N] (or per-patch [N, L]) of any tokenizer,
 * saved from Python or by `clustermim tokens encode`, read into a TokenLabelSet for TCAS.
 *
 * Formats, chosen by extension:
 *   .npy          one array: the tokens (in the tokens file) or the labels (in the labels file)
 *   .npz          members "tokens" and "labels" (np.savez / np.savez_compressed)
 *   .safetensors  tensors "tokens" and "labels" (I64, I32 or U8)
 * One file may hold both arrays, or the labels come from a second file. Any integer dtype is
 * read; every value must be a non-negative int32. Each problem (wrong ndim, float dtype,
 * negative or out-of-range ids, a label count that is not N, a missing member, empty arrays) is
 * a one-line Error naming the file. Torch-free; decode_token_labels works from memory (fuzzed).
 */
#pragma once

#include <cstdint>
#include <string>

#include "metrics/tcas_bootstrap.h"

namespace clustermim {

/// Reads tokens from `tokens_path` and labels from `labels_path` ("" = the labels in the tokens
/// file). `vocab` = 0 takes max id + 1; otherwise every id must be below it. The number of
/// classes is max label + 1. Throws Error("<file>: <problem>").
TokenLabelSet load_token_labels(const std::string& tokens_path, const std::string& labels_path,
                                int64_t vocab = 0);

/// load_token_labels of one file already in memory (holding both arrays); `path` names it in
/// errors and its extension picks the format.
TokenLabelSet decode_token_labels(const uint8_t* bytes, size_t size, const std::string& path,
                                  int64_t vocab = 0);

/// Writes `set` as int32 arrays by the extension of `path`: .npz ("tokens" and "labels"),
/// .safetensors (the same two tensors) or .npy (the tokens alone); the tokens alone in every
/// format when `set` has no classes (unlabeled images). Atomic (temp file + rename).
void save_token_labels(const std::string& path, const TokenLabelSet& set);

}  // namespace clustermim
