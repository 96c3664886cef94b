/*
 * A run folder's tokenizer: built once, saved with the provenance of what made it, and reused on
 * later invocations only when that provenance matches the current request.
 *
 * The provenance names the settings the kind actually uses (kind, K, patch and image size, the
 * fitting split's identity and content key, K-means settings and seed, the teacher file's content
 * key and block, or a given file's content key), with the config's key names so that an error
 * reads like the config: "tokenizer.seed is 0 there, 1 now". A tokenizer saved in a run folder
 * under other settings is never reused silently: loading it is an Error saying what differs and
 * how to start over.
 */
#pragma once

#include <memory>
#include <string>

#include "core/fingerprint.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {

/// What build_tokenizer(request, fit_split, ..., options) depends on ("data" is
/// fit_split.identity(): the same for a split in memory or streamed only when their identities
/// agree, so a run folder never mixes tokenizers fitted on different pixels).
Provenance tokenizer_provenance(const TokenizerRequest& request, const ImageSource& fit_split,
                                const BuildOptions& options);

/// A hash of the tokenizer's definition and fitted state (its file's tensors and metadata, fit
/// statistics left out): an ingredient of what is trained on its tokens.
std::string tokenizer_digest(const Tokenizer& tokenizer);

/// Saves `tokenizer` at `path` (atomic) with `provenance` in its metadata.
void save_tokenizer(const Tokenizer& tokenizer, const Provenance& provenance, const std::string& path);

/// Loads the tokenizer at `path`; Error naming the file and what differs when its recorded
/// provenance is not `wanted` (or it records none), with `fresh_hint` (how to start over).
std::unique_ptr<Tokenizer> load_tokenizer_checked(const std::string& path, const Provenance& wanted,
                                                  const std::string& fresh_hint);

/// The tokenizer saved at `saved` when present (checked as above), else built by build_tokenizer
/// and saved there; moved to `device`.
std::unique_ptr<Tokenizer> prepare_tokenizer(const TokenizerRequest& request,
                                             const ImageSource& fit_split,
                                             const ChannelStats& stats, const BuildOptions& options,
                                             const std::string& saved, const std::string& fresh_hint,
                                             torch::Device device);
/// The same over an in-memory Dataset.
std::unique_ptr<Tokenizer> prepare_tokenizer(const TokenizerRequest& request, const Dataset& fit_split,
                                             const ChannelStats& stats, const BuildOptions& options,
                                             const std::string& saved, const std::string& fresh_hint,
                                             torch::Device device);

}  // namespace clustermim
