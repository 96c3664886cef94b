/*
 * The streamed ImageSource: samples decoded from their encoded bytes every time a batch needs
 * them, so memory holds the index (sample_index.h), never the pixels.
 *
 * Per sample one positioned read (read_sample) gets the bytes; the crop is drawn on the ORIGINAL
 * image (its size from read_image_header on those same bytes, so a random crop costs one read,
 * not two) and decode_crop
 * decodes just that region at the smallest DCT scale that covers the output. The evaluation crop
 * is decode_eval (shorter side to S / crop_ratio, center crop S). Sizes are not cached: on a
 * 500x375 JPEG of quality 90 the header takes 0.7 us and a read from the page cache 14 us, against
 * 880 us for the 224 px crop decode (one core). Kept apart from image_source.h
 * so that programs using only in-memory data do not link the index readers.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "data/image_source.h"
#include "data/sample_index.h"

namespace clustermim {

/// An ImageSource over a SampleIndex (owned). Errors on a sample (missing file, corrupt or
/// truncated image) are clustermim::Error naming it, which the BatchLoader counts as a bad sample;
/// the source remembers which samples failed, over every pass and thread, for a run's report.
class StreamImageSource : public ImageSource {
 public:
  /// Throws Error when the index is empty.
  explicit StreamImageSource(SampleIndex index);

  const SampleIndex& index() const { return index_; }

  int64_t size() const override { return index_.size(); }
  int32_t label(int64_t i) const override;
  int64_t num_classes() const override { return static_cast<int64_t>(index_.classes.size()); }
  ImageSize original_size(int64_t i) const override;
  int native_side() const override { return 0; }
  float default_crop_ratio() const override { return 0.875f; }
  void crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const override;
  CropBox random_crop(int64_t i, const AugmentOptions& options, Rng& rng, int out_size,
                      uint8_t* out) const override;
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override;
  std::string name() const override;
  std::string identity() const override;
  std::string sample_name(int64_t i) const override;

  /// Distinct samples whose read or decode has failed so far (any call, any thread).
  int64_t failed_samples() const;

 private:
  /// Runs `decode` on sample i's bytes; any failure becomes an Error naming the sample, and the
  /// sample is remembered as failed.
  template <typename Decode>
  auto with_sample(int64_t i, const Decode& decode) const;

  struct Failures {
    std::mutex mutex;
    std::set<int64_t> indices;
  };

  SampleIndex index_;
  std::unique_ptr<Failures> failures_ = std::make_unique<Failures>();
};

}  // namespace clustermim
