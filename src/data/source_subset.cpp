/*
 * Views of chosen samples of an ImageSource (see source_subset.h).
 */
#include "data/source_subset.h"

#include "core/error.h"
#include "core/fingerprint.h"

namespace clustermim {

SubsetImageSource::SubsetImageSource(const ImageSource& source, std::vector<int64_t> indices)
    : source_(source), indices_(std::move(indices)) {
  CM_REQUIRE(!indices_.empty(), source_.name(), ": a subset needs at least one sample");
  for (const int64_t i : indices_) {
    CM_REQUIRE(i >= 0 && i < source_.size(), source_.name(), ": subset index ", i,
               " outside [0, ", source_.size(), ")");
  }
}

void SubsetImageSource::crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const {
  source_.crop(at(i), box, out_size, out);
}

CropBox SubsetImageSource::random_crop(int64_t i, const AugmentOptions& options, Rng& rng,
                                       int out_size, uint8_t* out) const {
  return source_.random_crop(at(i), options, rng, out_size, out);
}

void SubsetImageSource::eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const {
  source_.eval(at(i), out_size, crop_ratio, out);
}

std::string SubsetImageSource::identity() const {
  Fingerprint fp;
  fp.add_bytes(indices_.data(), indices_.size() * sizeof(int64_t));
  return source_.identity() + "#subset-" + fp.hex();
}

}  // namespace clustermim
