/*
 * The fine-tuning training transform (see finetune_augment.h): crop and flip to uint8, then
 * RandAugment, normalize and erase.
 */
#include "data/finetune_augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace clustermim {

void validate(const FinetuneAugmentOptions& options) {
  validate(options.crop);
  validate(options.rand_augment);
  validate(options.erasing);
}

std::array<uint8_t, 3> mean_fill(const ChannelStats& stats) {
  std::array<uint8_t, 3> fill{};
  for (int c = 0; c < 3; ++c)
    fill[c] = static_cast<uint8_t>(
        std::clamp(std::nearbyint(255.0 * static_cast<double>(stats.mean[c])), 0.0, 255.0));
  return fill;
}

FinetuneDraw finetune_transform(const ImageView& image, int size, const ChannelStats& stats,
                                const FinetuneAugmentOptions& options, Rng& rng, float* out) {
  CM_REQUIRE(image.data != nullptr && image.height > 0 && image.width > 0,
             "finetune_transform: empty image");
  CM_REQUIRE(size > 0, "finetune_transform: output size ", size, " must be > 0");
  FinetuneDraw draw;
  draw.crop = sample_crop(image.height, image.width, options.crop, rng);
  std::vector<uint8_t> pixels(static_cast<size_t>(size) * size * 3);
  crop_resize(image, draw.crop, size, pixels.data());
  std::vector<float> noise;
  draw.erased = finetune_augment_pixels(pixels.data(), size, stats, options, rng, noise);
  normalize_image({pixels.data(), size, size, 3}, stats, out);
  if (draw.erased) paste_erasure(*draw.erased, noise.data(), 3, size, size, out);
  return draw;
}

std::optional<EraseBox> finetune_augment_pixels(uint8_t* pixels, int size,
                                                const ChannelStats& stats,
                                                const FinetuneAugmentOptions& options, Rng& rng,
                                                std::vector<float>& noise) {
  RandAugmentOptions augment = options.rand_augment;
  if (options.fill_with_mean) augment.fill = mean_fill(stats);
  rand_augment(pixels, size, size, augment, rng);
  return draw_erasing(3, size, size, options.erasing, rng, noise);
}

}  // namespace clustermim
