/*
 * A view of chosen samples of an ImageSource, without copying or decoding anything.
 *
 * Tokenizer fitting reads a random subset of a split (at most what max_patches needs) and the
 * teacher-block sweep two disjoint parts of it; over a streamed split, copying the subset into a
 * Dataset (subset_dataset) would decode it all up front. The view renumbers samples 0..n-1 and
 * forwards every read to the underlying source, so it yields the same pixels as the source does.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_source.h"

namespace clustermim {

/// Samples `indices` of `source` (kept by reference: it must outlive the view), in that order.
class SubsetImageSource : public ImageSource {
 public:
  /// Throws Error when `indices` is empty or an index lies outside [0, source.size()).
  SubsetImageSource(const ImageSource& source, std::vector<int64_t> indices);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int32_t label(int64_t i) const override { return source_.label(at(i)); }
  int64_t num_classes() const override { return source_.num_classes(); }
  ImageSize original_size(int64_t i) const override { return source_.original_size(at(i)); }
  int native_side() const override { return source_.native_side(); }
  float default_crop_ratio() const override { return source_.default_crop_ratio(); }
  void crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const override;
  CropBox random_crop(int64_t i, const AugmentOptions& options, Rng& rng, int out_size,
                      uint8_t* out) const override;
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override;
  std::string name() const override { return source_.name(); }
  /// The source's identity followed by "#subset-<hash of the indices>".
  std::string identity() const override;
  std::string sample_name(int64_t i) const override { return source_.sample_name(at(i)); }

 private:
  int64_t at(int64_t i) const { return indices_[static_cast<size_t>(i)]; }

  const ImageSource& source_;
  std::vector<int64_t> indices_;
};

}  // namespace clustermim
