/*
 * Builds tokenizers from short requests ("label", "random:256", "pixel-kmeans:64",
 * "feature-kmeans:64" with a teacher, or a file path), fitting on a split when the kind needs it,
 * and counts a tokenizer's tokens against labels over a split (the input of TCAS).
 *
 * Every split is an ImageSource (in memory or streamed). Counting and tokenizing read each image
 * once, in index order, as its evaluation crop at the tokenizer's side S in bounded batches, so
 * memory holds the counts (or the ids [N, L]) and a few batches, never the split. The crop ratio
 * is the caller's: 0 takes the source's default (1 in memory, whose images were resized and
 * center-cropped at load; 0.875 streamed); `tcas --storage` passes 1 for both, so a split read
 * in memory or streamed, from a folder, an archive or shards, gives the same pixels and the same
 * counts. Samples that fail to decode are left out (the loader logs them; past its
 * max_bad_fraction it stops with an Error).
 */
#pragma once

#include <memory>
#include <string>

#include "data/loader.h"
#include "metrics/tcas.h"
#include "metrics/tcas_bootstrap.h"
#include "tokenizers/pixel_kmeans.h"
#include "tokenizers/tokenizer.h"

namespace clustermim {

/// K of a request that names none ("random", "pixel-kmeans", "feature-kmeans"), and the default
/// of the run config's tokenizer.vocab: one value for every kind.
constexpr int64_t kDefaultVocab = 64;

/// A parsed request: either a kind with an optional vocabulary, or a tokenizer file.
struct TokenizerRequest {
  std::string kind;   ///< "label" | "random" | "pixel-kmeans" | "feature-kmeans"; empty for a path
  int64_t vocab = 0;  ///< 0 = kDefaultVocab (label: the number of classes)
  std::string path;   ///< a tokenizer file
  std::string text;   ///< the request as written
};

/// Parses "kind[:K]" or a path to an existing file; throws Error with the accepted forms.
TokenizerRequest parse_tokenizer_request(const std::string& text);

/// Geometry and fitting options shared by all kinds. `fit.vocab` is taken from the request.
struct BuildOptions {
  PixelKMeansOptions fit;          ///< patch size, image size, K-means settings
  uint64_t random_seed = 0;        ///< seed of the random tokenizer
  std::string teacher;             ///< feature-kmeans: a .cmck checkpoint or timm .safetensors ViT
  int64_t teacher_block = -1;      ///< feature-kmeans: block to cluster (-1 = after the final norm)
  int64_t teacher_heads = 0;       ///< feature-kmeans: heads of a foreign ViT (0 = infer)
  bool normalize_features = false; ///< feature-kmeans: L2-normalize features (spherical K-means)
};

/// Creates (and fits, for K-means kinds) the requested tokenizer on `fit_split`, or loads it.
/// Error "<source>: the label tokenizer needs labels; ..." when `label` meets an unlabeled source.
std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerRequest& request,
                                           const ImageSource& fit_split, const ChannelStats& stats,
                                           const BuildOptions& options, torch::Device device,
                                           const KMeansProgress& progress = nullptr);
/// The same over an in-memory Dataset.
std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerRequest& request, const Dataset& fit_split,
                                           const ChannelStats& stats, const BuildOptions& options,
                                           torch::Device device,
                                           const KMeansProgress& progress = nullptr);

/// Tokenizes every image of `source` (its evaluation crop at the tokenizer's side, `crop_ratio`
/// in (0, 1] or 0 = the source's default) and counts tokens per class; samples that fail to
/// decode are left out, more than `max_bad_fraction` of them stop with Error (LoaderOptions).
/// Error "<source>: TCAS needs labels; ..." on an unlabeled source.
TokenClassCounts count_token_classes(const Tokenizer& tokenizer, const ImageSource& source,
                                     int workers, torch::Device device, float crop_ratio = 0.f,
                                     double max_bad_fraction = LoaderOptions().max_bad_fraction);
/// The same over an in-memory Dataset, whose images must have the tokenizer's size (Error naming
/// dataset.source otherwise).
TokenClassCounts count_token_classes(const Tokenizer& tokenizer, const Dataset& dataset,
                                     int workers, torch::Device device);

/// Tokenizes every image of `source` as count_token_classes does and keeps the ids per image:
/// tokens [N', L] and labels [N'] as int32 (N' = N less the samples that failed to decode),
/// vocab = the tokenizer's K, num_classes = the source's. What `tcas` bootstraps and `tokens
/// encode` writes. An unlabeled source gives labels -1 and num_classes 0 (Error for the label
/// tokenizer).
TokenLabelSet tokenize_split(const Tokenizer& tokenizer, const ImageSource& source, int workers,
                             torch::Device device, float crop_ratio = 0.f,
                             double max_bad_fraction = LoaderOptions().max_bad_fraction);
/// The same over an in-memory Dataset (checked as count_token_classes checks it).
TokenLabelSet tokenize_split(const Tokenizer& tokenizer, const Dataset& dataset, int workers,
                             torch::Device device);

}  // namespace clustermim
