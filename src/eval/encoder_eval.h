/*
 * Scoring a frozen encoder: features of a train and an eval split (both poolings, cached), then
 * k-NN and the linear probe (SPEC section 5).
 *
 * Images come from any ImageSource (a Dataset in memory or samples streamed from their encoded
 * bytes), read as eval crops a batch at a time: side = the encoder's input size, crop ratio = the
 * source's default (1 in memory, 0.875 streamed) unless FeatureOptions says otherwise.
 *
 * Feature cache files ("CMFT", eval/features.h) carry the provenance of what produced them: the
 * source's identity and content key, the split, the image size, crop ratio and eval transform (the
 * normalization stats), the encoder (its config and a hash of its weights), the precision and the
 * stored feature dtype. A
 * file whose provenance differs from what would be computed now is recomputed and overwritten,
 * and the log says which ingredient changed; it is never scored as if it were the new data.
 */
#pragma once

#include <string>

#include "core/fingerprint.h"
#include "eval/features.h"
#include "eval/knn.h"
#include "eval/linear_probe.h"
#include "models/vit.h"

namespace clustermim {

/// What evaluate_encoder runs, with its defaults.
struct EncoderEvalOptions {
  /// image_size 0 = the encoder's input size; feature_dtype float32 or float16 (see features.h)
  FeatureOptions features;
  Pooling pooling = Pooling::Cls;     ///< the feature each protocol reads
  bool knn = true;                    ///< run the k-NN protocol
  bool linear = true;                 ///< run the linear probe
  KnnOptions knn_options;
  LinearProbeOptions linear_options;
  std::string cache_dir;              ///< feature cache folder (created); "" = no cache
};

/// k-NN and linear-probe scores of a frozen encoder (fractions in [0, 1]; 0 for a protocol not
/// run) and the wall time of the whole evaluation, in seconds.
struct EncoderScores {
  double knn_top1 = 0, knn_top5 = 0, linear_top1 = 0, linear_top5 = 0, seconds = 0;
};

/// A hash of the encoder's config and every parameter and buffer (16 hex digits).
std::string encoder_digest(VisionTransformer& encoder);

/// The provenance a feature file of split `split` of `source` made by `encoder` records.
Provenance feature_provenance(VisionTransformer& encoder, const ImageSource& source,
                              const std::string& split, const ChannelStats& stats,
                              const FeatureOptions& options);
/// The same for a Dataset (its split).
Provenance feature_provenance(VisionTransformer& encoder, const Dataset& dataset,
                              const ChannelStats& stats, const FeatureOptions& options);

/// Features of `source` (split `split`) through `encoder` (put in eval mode): read from
/// `cache_dir`/features-<split>.cmft when its provenance matches, else extracted in a stream of
/// batches (with a progress bar) and, when `cache_dir` is not empty, written there.
PooledFeatures encoder_features(VisionTransformer& encoder, const ImageSource& source,
                                const std::string& split, const ChannelStats& stats,
                                const FeatureOptions& options, torch::Device device,
                                const std::string& cache_dir);
/// The same for a Dataset (its split).
PooledFeatures encoder_features(VisionTransformer& encoder, const Dataset& dataset,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const std::string& cache_dir);

/// Features of `train` and `test` (normalized with `stats`; cached as splits "train" and
/// "test"), then the protocols asked for. Error before any extraction when a protocol is asked
/// for and either source is unlabeled.
EncoderScores evaluate_encoder(VisionTransformer& encoder, const ImageSource& train,
                               const ImageSource& test, const ChannelStats& stats,
                               const EncoderEvalOptions& options, torch::Device device);
/// The same over MemoryImageSources of two Datasets.
EncoderScores evaluate_encoder(VisionTransformer& encoder, const Dataset& train, const Dataset& test,
                               const ChannelStats& stats, const EncoderEvalOptions& options,
                               torch::Device device);

}  // namespace clustermim
