/*
 * ClusterMIM with feature targets: K-means on patch features of a frozen teacher ViT.
 *
 * The teacher is a clustermim checkpoint (self-bootstrapping: round r+1 clusters the round-r
 * encoder) or a timm-named safetensors ViT a user brings (DINO, DeiT). Features come from one
 * block (default: after the final norm), CLS dropped: one D-vector per patch, optionally
 * L2-normalized (spherical K-means). The teacher sees the student's (augmented) image, renormalized
 * to the teacher's statistics and resized so that its patch grid equals the student's; it runs
 * without gradients, under bf16 autocast by default. The tokenizer file embeds the teacher weights
 * (the container's CRC-32 covers them) and records where they came from.
 */
#pragma once

#include "models/vit_weights.h"
#include "tokenizers/kmeans.h"
#include "tokenizers/tokenizer.h"

namespace clustermim {

/// Options of fit_feature_kmeans, with their defaults.
struct FeatureKMeansOptions {
  int64_t vocab = 64;            ///< K
  int64_t block = -1;            ///< teacher block (0-based) to cluster; -1 = after the final norm
  bool normalize = false;        ///< L2-normalize features (spherical K-means)
  int64_t patch_size = 4;        ///< student patch p: the token grid is image_size / p
  int64_t image_size = 0;        ///< student image side S; 0 = the source's native side
  int64_t max_patches = 200000;  ///< patch features sampled for fitting
  int iterations = 30;           ///< Lloyd iterations (at most)
  uint64_t seed = 0;             ///< sampling and k-means++ seed
  int workers = 2;               ///< data-loader threads
  double max_bad_fraction = 0.001;  ///< of the images read that may fail to decode (left out)
  float crop_ratio = 0.f;        ///< evaluation crop of the images read (0 = source default)
  bool bf16 = true;              ///< teacher forward under bf16 autocast
};

/// Nearest-centroid tokenizer over a teacher's patch features.
class FeatureKMeansTokenizer : public Tokenizer {
 public:
  /// centroids: [K, D] float32 with D the teacher's width.
  FeatureKMeansTokenizer(TokenizerSpec spec, FrozenEncoder teacher,
                         const FeatureKMeansOptions& options, torch::Tensor centroids);
  void to(torch::Device device) override;
  /// Patch features [B, L, D] float32 of images normalized with spec().stats, as clustered.
  torch::Tensor features(const torch::Tensor& images) const;
  const FrozenEncoder& teacher() const { return teacher_; }
  const torch::Tensor& centroids() const { return centroids_; }

 protected:
  torch::Tensor tokenize_checked(const TokenizerInput& input) const override;
  void save_state(TensorFile& file) const override;

 private:
  FrozenEncoder teacher_;
  int64_t block_;
  bool normalize_, bf16_;
  torch::Tensor centroids_;
};

/// Patch features [B, L, D] of `teacher` for `images` [B, C, S, S] normalized with `stats`
/// (renormalized to the teacher's stats, resized to its input size). No gradients.
torch::Tensor teacher_patch_features(const FrozenEncoder& teacher, const torch::Tensor& images,
                                     const ChannelStats& stats, int64_t block, bool normalize,
                                     bool bf16);

/// Patch features [M, D] (M <= max_patches) of a random subset of `source`'s images (no more than
/// max_patches needs), each read once as its evaluation crop at S with the source's default crop
/// ratio.
torch::Tensor sample_patch_features(const FrozenEncoder& teacher, const ImageSource& source,
                                    const ChannelStats& stats, const FeatureKMeansOptions& options,
                                    torch::Device device);

/// Fits K-means on sampled patch features; the teacher's grid must equal S / p (load it with
/// load_encoder(path, S / p)).
std::unique_ptr<FeatureKMeansTokenizer> fit_feature_kmeans(
    FrozenEncoder teacher, const ImageSource& source, const ChannelStats& stats,
    const FeatureKMeansOptions& options, torch::Device device,
    const KMeansProgress& progress = nullptr);
/// The same over an in-memory Dataset.
std::unique_ptr<FeatureKMeansTokenizer> fit_feature_kmeans(
    FrozenEncoder teacher, const Dataset& dataset, const ChannelStats& stats,
    const FeatureKMeansOptions& options, torch::Device device,
    const KMeansProgress& progress = nullptr);

/// Rebuilds a feature K-means tokenizer from its file (used by load_tokenizer).
std::unique_ptr<Tokenizer> load_feature_kmeans(TokenizerSpec spec, const TensorFile& file);

}  // namespace clustermim
