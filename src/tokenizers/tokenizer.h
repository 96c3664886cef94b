/*
 * The tokenizer interface: normalized images -> one discrete token per patch.
 *
 * A tokenizer is frozen (fitted once, never trained by MIM) and deterministic. Kinds:
 *   pixel-kmeans  nearest K-means centroid of the raw (normalized) patch vector (ClusterMIM Pixel)
 *   feature-kmeans  nearest centroid of a frozen teacher ViT's patch feature (feature_kmeans.h)
 *   label         every patch gets its image's class (the oracle; TCAS = 0)
 *   random        uniform token, a fixed function of (seed, image index, patch position)
 * Each is saved as one self-describing tensor file (magic "CMTK", ".cmtk") holding its kind,
 * vocabulary, patch size, image geometry, the normalization it expects and its fitted state; a
 * training checkpoint (models/checkpoint_file.h) embeds the file of the tokenizer it trained on.
 */
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/torch_pch.h"
#include "data/dataset.h"
#include "data/image_source.h"
#include "io/tensor_file.h"

namespace clustermim {

struct Checkpoint;  // models/checkpoint_file.h

/// What a tokenizer sees: a batch of images with their identities.
struct TokenizerInput {
  torch::Tensor images;   ///< [B, 3, H, W] float, normalized with TokenizerSpec::stats
  torch::Tensor labels;   ///< [B] int64 class ids (used only by `label`)
  torch::Tensor indices;  ///< [B] int64 dataset indices (used only by `random`)
};

/// What every tokenizer records about itself (saved in its file).
struct TokenizerSpec {
  std::string kind;          ///< "pixel-kmeans" | "feature-kmeans" | "label" | "random"
  int64_t vocab = 0;         ///< K: token ids are in [0, vocab)
  int64_t patch_size = 4;    ///< p: one token per p x p patch
  int64_t image_size = 0;    ///< S: images are S x S
  int64_t channels = 3;      ///< channels of the (normalized) input images
  ChannelStats stats;        ///< normalization the inputs must carry
  std::string dataset;       ///< dataset it was fitted on (informational)
  nlohmann::json fit = nlohmann::json::object();  ///< fit statistics (objective, time, ...)

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }  ///< L
};

/// A frozen map from images to token ids.
class Tokenizer {
 public:
  explicit Tokenizer(TokenizerSpec spec) : spec_(std::move(spec)) {}
  virtual ~Tokenizer() = default;

  const TokenizerSpec& spec() const { return spec_; }

  /// Token ids [B, L] int64 on the images' device. Checks the input geometry first.
  torch::Tensor tokenize(const TokenizerInput& input) const;

  /// Moves fitted state (centroids, ...) to `device`.
  virtual void to(torch::Device device) {}

  /// The tokenizer as a "CMTK" tensor file (what save writes; checkpoints embed it).
  TensorFile to_file() const;
  /// Saves to a "CMTK" tensor file (atomic write).
  void save(const std::string& path) const;

 protected:
  virtual torch::Tensor tokenize_checked(const TokenizerInput& input) const = 0;
  /// Adds kind-specific tensors and metadata to the file being written.
  virtual void save_state(TensorFile& file) const {}

  TokenizerSpec spec_;
};

/// The side S a tokenizer fitted on `source` works at: `requested` when > 0, else the source's
/// native side; Error naming the source when its images vary in size and none is requested.
int64_t tokenizer_image_size(int64_t requested, const ImageSource& source);

/// What a tokenizer records as the data it was fitted on: the source's identity without its
/// content key, "<name>/<split>" (TokenizerSpec::dataset).
std::string fitted_on(const ImageSource& source);

/// The spec of a tokenizer of `kind` fitted on `source` (3 channels, images S x S with S =
/// tokenizer_image_size(image_size, source)); Error when `patch_size` does not divide S.
TokenizerSpec fitted_spec(const std::string& kind, int64_t vocab, int64_t patch_size,
                          int64_t image_size, const ChannelStats& stats,
                          const ImageSource& source);

/// Loads a tokenizer file, or the tokenizer embedded in a checkpoint when `path` ends in ".cmck";
/// throws Error naming the file on any problem (a checkpoint without a tokenizer included).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
/// Reads and checks a tokenizer file's container (magic, CRC) without building the tokenizer.
TensorFile read_tokenizer_file(const std::string& path);
/// Rebuilds a tokenizer from a "CMTK" tensor file already in memory.
std::unique_ptr<Tokenizer> tokenizer_from_file(const TensorFile& file);
/// The tokenizer embedded in a checkpoint, or null when it has none (MAE).
std::unique_ptr<Tokenizer> checkpoint_tokenizer(const Checkpoint& checkpoint);

/// Throws Error (naming `source`) when images of size `image_size` with `channels` channels
/// cannot be fed to this tokenizer.
void check_tokenizer_fits(const TokenizerSpec& spec, int64_t image_size, int64_t channels,
                          const std::string& source);

}  // namespace clustermim
