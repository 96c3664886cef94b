/*
 * ClusterMIM Pixel: K-means on raw patch vectors (SPEC section 3).
 *
 * Patch vectors are normalized images cut into p x p x 3 patches in MAE patchify order,
 * optionally normalized per patch. A token is the nearest centroid (squared L2). Fitting samples
 * up to `max_patches` patch vectors from a random subset of the fit split's images (no more images
 * than max_patches needs, each read once as its evaluation crop at the tokenizer's size with the
 * source's default crop ratio: resize + center crop), so a streamed split decodes only those, and
 * runs fit_kmeans on them.
 */
#pragma once

#include <memory>

#include "tokenizers/kmeans.h"
#include "tokenizers/tokenizer.h"

namespace clustermim {

/// Options of fit_pixel_kmeans, with their defaults.
struct PixelKMeansOptions {
  int64_t vocab = 64;             ///< K
  int64_t patch_size = 4;         ///< p (the CLI resolves <= 0 from the image size)
  int64_t image_size = 0;         ///< S; 0 = the source's native side (Error when sizes vary)
  bool normalize_patches = false; ///< per-patch mean/std normalization before clustering
  int64_t max_patches = 200000;   ///< patch vectors sampled for fitting
  int iterations = 30;            ///< Lloyd iterations (at most)
  uint64_t seed = 0;              ///< sampling and k-means++ seed
  int workers = 2;                ///< data-loader threads
  double max_bad_fraction = 0.001; ///< of the images read that may fail to decode (left out)
  float crop_ratio = 0.f;          ///< evaluation crop of the images read (0 = source default)
};

/// Nearest-centroid tokenizer over patch vectors.
class PixelKMeansTokenizer : public Tokenizer {
 public:
  /// centroids: [K, p*p*3] float32.
  PixelKMeansTokenizer(TokenizerSpec spec, torch::Tensor centroids, bool normalize_patches);
  void to(torch::Device device) override;
  const torch::Tensor& centroids() const { return centroids_; }

 protected:
  torch::Tensor tokenize_checked(const TokenizerInput& input) const override;
  void save_state(TensorFile& file) const override;

 private:
  torch::Tensor centroids_;
  bool normalize_patches_;
};

/// Samples patch vectors [M, p*p*3] (M <= max_patches) from `source` as fit_pixel_kmeans does.
torch::Tensor sample_patch_vectors(const ImageSource& source, const ChannelStats& stats,
                                   const PixelKMeansOptions& options, torch::Device device);
/// The same over an in-memory Dataset.
torch::Tensor sample_patch_vectors(const Dataset& dataset, const ChannelStats& stats,
                                   const PixelKMeansOptions& options, torch::Device device);

/// Fits a pixel K-means tokenizer on `source` (normalized with `stats`).
std::unique_ptr<PixelKMeansTokenizer> fit_pixel_kmeans(const ImageSource& source,
                                                       const ChannelStats& stats,
                                                       const PixelKMeansOptions& options,
                                                       torch::Device device,
                                                       const KMeansProgress& progress = nullptr);
/// The same over an in-memory Dataset.
std::unique_ptr<PixelKMeansTokenizer> fit_pixel_kmeans(const Dataset& dataset,
                                                       const ChannelStats& stats,
                                                       const PixelKMeansOptions& options,
                                                       torch::Device device,
                                                       const KMeansProgress& progress = nullptr);

/// Rebuilds a pixel K-means tokenizer from its file (used by load_tokenizer).
std::unique_ptr<Tokenizer> load_pixel_kmeans(TokenizerSpec spec, const TensorFile& file);

}  // namespace clustermim
