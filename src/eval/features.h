/*
 * Frozen-encoder features for the evaluation protocols (SPEC section 5), and their cache files.
 *
 * k-NN and the linear probe both train nothing inside the encoder and use no augmentation, so the
 * encoder runs once over each split and every protocol reads the cached features. One pass pools
 * two ways at once: the CLS token after the final norm (MAE linear probe) and the mean of the
 * patch tokens (the fine-tuning pooling; the Python reference reports both). The encoder is a
 * callback, so this file does not depend on the model code. Cache files are tensor files with
 * magic "CMFT": tensors "cls" F32 [N, D], "mean" F32 [N, D], "labels" I64 [N], and free-form meta.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/torch_pch.h"
#include "data/dataset.h"

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
  torch::Tensor features;  ///< [N, D] float32, CPU
  torch::Tensor labels;    ///< [N] int64, CPU, in [0, num_classes)

  int64_t size() const { return features.size(0); }
  int64_t dim() const { return features.size(1); }
};

/// Both poolings of one split (rows in dataset order; the two sets share `labels`).
struct PooledFeatures {
  FeatureSet cls;
  FeatureSet mean;

  const FeatureSet& at(Pooling pooling) const { return pooling == Pooling::Cls ? cls : mean; }
};

/// Parameters of extract_features, with their defaults.
struct FeatureOptions {
  int64_t image_size = 0;   ///< S fed to the encoder; 0 = the dataset's size
  int64_t batch_size = 256; ///< images per encoder call
  int workers = 2;          ///< loader threads building batches
  bool bf16 = true;         ///< run the encoder under bf16 autocast (features are stored float32)
};

/// Called after every batch with (images done, total images).
using FeatureProgress = std::function<void(int64_t, int64_t)>;

/// Runs `encode` over `dataset` in index order with the eval transform (resize + center crop +
/// normalize with `stats`) on `device`, without gradients, and pools every batch both ways.
/// Throws Error when the encoder returns something that is not [B, 1 + L, D] with L >= 1.
PooledFeatures extract_features(const EncodeFn& encode, const Dataset& dataset,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const FeatureProgress& progress = nullptr);

/// Throws Error (naming `what`, e.g. "k-NN train features") unless `set` holds float features
/// [N, D] with N >= 1 and integer labels [N] in [0, num_classes).
void check_feature_set(const FeatureSet& set, int64_t num_classes, const std::string& what);

/// Rows of `scores` [B, C] whose `labels` [B] (int64, same device) is among the `k` highest
/// scores: the top-1 / top-5 hit count both protocols report (k is clamped to C).
int64_t count_topk_hits(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k);

/// Writes a "CMFT" feature file atomically; `meta` is stored as given (e.g. checkpoint, split).
void save_features(const std::string& path, const PooledFeatures& features,
                   const nlohmann::json& meta = nlohmann::json::object());

/// Reads a "CMFT" feature file (and its meta into `meta` when given); throws Error naming the
/// file when it is missing, corrupt, of another kind or inconsistent.
PooledFeatures load_features(const std::string& path, nlohmann::json* meta = nullptr);

}  // namespace clustermim
