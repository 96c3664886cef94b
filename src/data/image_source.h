/*
 * Where the BatchLoader's images come from: an abstract ImageSource, and the in-memory one.
 *
 * The loader needs, per sample, a uint8 RGB crop at the output size: a RandomResizedCrop drawn on
 * the original image, or the evaluation crop. An in-memory Dataset holds decoded pixels, already
 * resized at load time; a streamed source (stream_image_source.h) decodes each sample from its
 * encoded bytes every time, straight into the crop. Both answer the same few questions, so one
 * loader (its order, its per-sample Rng streams, its shards, its handling of bad samples) serves
 * both. Crops come out as uint8 [S, S, 3] and the loader normalizes them: crop_resize +
 * normalize_image is apply_crop bit for bit, so the in-memory path gives the batches it always
 * gave.
 */
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"
#include "data/transforms.h"

namespace clustermim {

/// Height and width of one image, in pixels.
struct ImageSize {
  int height = 0, width = 0;
};

/// Images with labels, read one sample at a time. Implementations are thread-safe for the const
/// calls (the loader's workers call them concurrently). Errors on a sample (corrupt or truncated
/// data) are clustermim::Error naming that sample.
class ImageSource {
 public:
  virtual ~ImageSource() = default;

  /// N, the number of samples.
  virtual int64_t size() const = 0;
  /// Label of sample i in [0, num_classes()), or -1 when the source is unlabeled.
  virtual int32_t label(int64_t i) const = 0;
  /// Number of classes; 0 when unlabeled.
  virtual int64_t num_classes() const = 0;
  /// The size of sample i as stored (a streamed source reads its header: one read per call).
  virtual ImageSize original_size(int64_t i) const = 0;
  /// The shorter side when every image has the same size (an in-memory Dataset); 0 when sizes vary.
  virtual int native_side() const = 0;
  /// The evaluation crop ratio used when LoaderOptions::crop_ratio is 0: 1 in memory (the images
  /// were resized and center-cropped at load time), 0.875 streamed (ImageNet's 256 -> 224).
  virtual float default_crop_ratio() const = 0;

  /// Writes `box` (in pixels of the original image, as sample_crop draws it) of sample i resized to
  /// [out_size, out_size] (bicubic) and mirrored when box.flipped, as uint8 RGB [out_size,
  /// out_size, 3] to `out`.
  virtual void crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const = 0;
  /// Draws a crop of sample i with sample_crop(original size, options, rng), writes it as crop()
  /// does and returns it. A streamed source reads the sample once for both.
  virtual CropBox random_crop(int64_t i, const AugmentOptions& options, Rng& rng, int out_size,
                              uint8_t* out) const;
  /// The evaluation crop of sample i: shorter side resized to floor(out_size / crop_ratio), center
  /// crop [out_size, out_size], uint8 RGB [out_size, out_size, 3] to `out`. crop_ratio in (0, 1].
  virtual void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const = 0;

  /// The source's name for messages.
  virtual std::string name() const = 0;
  /// What a file made from this source records about it (provenance, caches): the source, split
  /// and a content key, "<name>/<split>@<key>".
  virtual std::string identity() const = 0;
  /// Sample i's name for messages: a path, "shard.tar:KEY", "<dataset>[i]".
  virtual std::string sample_name(int64_t i) const = 0;
};

/// An ImageSource over a decoded Dataset (kept by reference: it must outlive the source).
/// crop = crop_resize, eval = eval_resize (transforms.h).
class MemoryImageSource : public ImageSource {
 public:
  /// Throws Error when the dataset is empty or its pixel array does not match N*H*W*C.
  explicit MemoryImageSource(const Dataset& dataset);

  int64_t size() const override { return dataset_.size(); }
  int32_t label(int64_t i) const override;
  int64_t num_classes() const override { return dataset_.num_classes(); }
  ImageSize original_size(int64_t) const override;
  int native_side() const override;
  float default_crop_ratio() const override { return 1.f; }
  void crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const override;
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override;
  std::string name() const override;
  std::string identity() const override { return dataset_identity(dataset_); }
  std::string sample_name(int64_t i) const override;

 private:
  const Dataset& dataset_;
};

/// Per-channel mean and std (values in [0, 1]) estimated from at most `max_images` samples drawn
/// without replacement with Rng(seed) (every sample when N <= max_images), each read as its
/// evaluation crop at crop ratio 1 (the center square) of side `side` (0 = the source's native
/// side, or 224 when sizes vary). For an in-memory Dataset of
/// square images with max_images >= N it equals compute_channel_stats. Samples that fail to decode
/// are left out; Error when none decodes.
ChannelStats estimate_channel_stats(const ImageSource& source, int64_t max_images = 1000,
                                    uint64_t seed = 0, int side = 0);

}  // namespace clustermim
