/*
 * Frozen-encoder features for the evaluation protocols (SPEC section 5), and their cache files.
 *
 * k-NN and the linear probe both train nothing inside the encoder and use no augmentation, so the
 * encoder runs once over each split and every protocol reads the cached features. One pass pools
 * two ways at once: the CLS token after the final norm (MAE linear probe) and the mean of the
 * patch tokens (the fine-tuning pooling; the Python reference reports both). The encoder is a
 * callback, so this file does not depend on the model code. Images come from any ImageSource (in
 * memory or streamed) through the loader's bounded queue of eval batches, so only the features
 * grow with N, never the split's pixels.
 *
 * What is held: both poolings, [N, D] each, in `feature_dtype`: float32 (default) is 8 N D bytes
 * for the pair (ImageNet-1K's 1.28 M training images through ViT-B, D = 768: 3.9 GB per pooling,
 * 7.9 GB in all), float16 half of that (3.9 GB in all); k-NN and the linear probe read float16
 * features block by block in float32. Cache files are tensor files with magic "CMFT": tensors
 * "cls" and "mean" [N, D] (F32, or F16 for float16 features), "labels" I64 [N], and free-form meta.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/torch_pch.h"
#include "data/dataset.h"
#include "data/image_source.h"

namespace clustermim {

/// How a token sequence becomes one feature vector.
enum class Pooling {
  Cls,   ///< the CLS token (position 0) after the final norm
  Mean,  ///< the mean of the patch tokens (positions 1..L), CLS excluded
};

/// "cls" | "mean"; throws Error otherwise.
Pooling parse_pooling(const std::string& name);
/// "cls" | "mean".
const char* pooling_name(Pooling pooling);

/// Encoder callback: normalized images [B, 3, S, S] float32 -> tokens [B, 1 + L, D] after the
/// final norm, CLS first (any float dtype, on the images' device). Runs under no-grad and, when
/// asked, bf16 autocast; putting the module in eval mode is the caller's job.
using EncodeFn = std::function<torch::Tensor(const torch::Tensor& images)>;

/// Features of one split with one pooling.
struct FeatureSet {
  torch::Tensor features;  ///< [N, D] float32 or float16 (FeatureOptions::feature_dtype), CPU
  torch::Tensor labels;    ///< [N] int64, CPU, in [0, num_classes); -1 from an unlabeled source

  int64_t size() const { return features.size(0); }
  int64_t dim() const { return features.size(1); }
};

/// Both poolings of one split (rows in sample order, without the samples that failed to decode;
/// the two sets share `labels`).
struct PooledFeatures {
  FeatureSet cls;
  FeatureSet mean;

  const FeatureSet& at(Pooling pooling) const { return pooling == Pooling::Cls ? cls : mean; }
};

/// "float32" | "float16" -> the stored feature dtype; Error naming the value otherwise.
torch::ScalarType parse_feature_dtype(const std::string& name);
/// "float32" | "float16".
const char* feature_dtype_name(torch::ScalarType dtype);

/// Parameters of extract_features, with their defaults.
struct FeatureOptions {
  int64_t image_size = 0;   ///< S fed to the encoder; 0 = the source's native side
  /// Eval crop: shorter side to S / crop_ratio, center crop S; 0 = the source's default (1 in
  /// memory, where images were resized at load; 0.875 streamed, ImageNet's 256 -> 224).
  float crop_ratio = 0.f;
  int64_t batch_size = 256; ///< images per encoder call
  int workers = 2;          ///< loader threads building batches
  bool bf16 = true;         ///< run the encoder under bf16 autocast (features pooled in float32)
  /// Stored features: torch::kFloat32, or torch::kHalf (half the memory and cache size).
  torch::ScalarType feature_dtype = torch::kFloat32;
  double max_bad_fraction = 0.001;  ///< samples allowed to fail to decode (left out, logged)
};

/// Called after every batch with (images done, total images).
using FeatureProgress = std::function<void(int64_t, int64_t)>;

/// Runs `encode` over `source` in index order with the eval transform (resize + center crop +
/// normalize with `stats`) on `device`, without gradients, and pools every batch both ways.
/// A sample that fails to decode is left out (the loader logs it; more than max_bad_fraction is
/// an Error). Throws Error when the encoder returns something that is not [B, 1 + L, D], L >= 1.
PooledFeatures extract_features(const EncodeFn& encode, const ImageSource& source,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const FeatureProgress& progress = nullptr);
/// The same over a MemoryImageSource of `dataset`.
PooledFeatures extract_features(const EncodeFn& encode, const Dataset& dataset,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const FeatureProgress& progress = nullptr);

/// Throws Error (naming `what`, e.g. "k-NN train features") unless `set` holds float features
/// [N, D] with N >= 1 and integer labels [N] in [0, num_classes).
void check_feature_set(const FeatureSet& set, int64_t num_classes, const std::string& what);

/// Writes a "CMFT" feature file atomically (features as F16 when they are float16, else F32);
/// `meta` is stored as given (e.g. checkpoint, split).
void save_features(const std::string& path, const PooledFeatures& features,
                   const nlohmann::json& meta = nlohmann::json::object());

/// Reads a "CMFT" feature file (and its meta into `meta` when given); throws Error naming the
/// file when it is missing, corrupt, of another kind or inconsistent.
PooledFeatures load_features(const std::string& path, nlohmann::json* meta = nullptr);

}  // namespace clustermim
