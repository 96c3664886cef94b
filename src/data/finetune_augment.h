/*
 * MAE's fine-tuning training transform, timm's create_transform(is_training=True,
 * auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel', re_count=1,
 * interpolation='bicubic'): RandomResizedCrop(S, scale=(0.08, 1)) + horizontal flip on uint8
 * pixels, RandAugment, normalize, random erasing. One options struct holds the three parts with
 * MAE's defaults, so the loader and the fine-tuning trainer share one description.
 * Everything is drawn from one caller-owned Rng in that order: a seed gives the same image on
 * every platform, and the BatchLoader keys that Rng by (seed, epoch, position) as for
 * pretraining.
 */
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "data/dataset.h"
#include "data/rand_augment.h"
#include "data/random_erasing.h"
#include "data/transforms.h"

namespace clustermim {

/// The fine-tuning augmentation; the defaults are MAE's main_finetune.py.
struct FinetuneAugmentOptions {
  /// RandomResizedCrop + flip: timm's fine-tuning default scale (0.08, 1), ratio (3/4, 4/3).
  AugmentOptions crop{0.08f, 1.0f, 3.f / 4, 4.f / 3, true};
  RandAugmentOptions rand_augment;  ///< rand-m9-mstd0.5-inc1; ops = 0 turns it off
  RandomErasingOptions erasing;     ///< p 0.25, pixel mode, one box; probability 0 turns it off
  /// Fill of RandAugment's geometric ops = round(255 * stats.mean) per channel, as timm's
  /// create_transform passes img_mean; false = rand_augment.fill.
  bool fill_with_mean = true;
};

/// Throws Error when any part makes no sense.
void validate(const FinetuneAugmentOptions& options);

/// What finetune_transform drew, for tests and replay.
struct FinetuneDraw {
  CropBox crop;                   ///< in source pixels
  std::optional<EraseBox> erased; ///< in output pixels; nullopt = nothing erased
};

/// round(255 * mean[c]) clipped to [0, 255]: timm's img_mean fill for the normalization `stats`.
std::array<uint8_t, 3> mean_fill(const ChannelStats& stats);

/// The part of finetune_transform after the crop, before normalizing (the loader normalizes on
/// its workers or on the GPU): rand_augment on `pixels` [size, size, 3] in place, then random
/// erasing's draws (draw_erasing: the box, nullopt = none, its fill appended to `noise` as
/// [3, h, w]) to paste after normalizing; draws from `rng` after the crop's draws.
std::optional<EraseBox> finetune_augment_pixels(uint8_t* pixels, int size,
                                                const ChannelStats& stats,
                                                const FinetuneAugmentOptions& options, Rng& rng,
                                                std::vector<float>& noise);

/// Fine-tuning training transform of `image` (1 or 3 channels) to `out` [3, size, size]:
/// sample_crop + crop_resize (grayscale repeated to RGB), rand_augment, normalize_image,
/// random_erasing. With rand_augment.ops = 0 and erasing.probability = 0 it equals
/// train_transform(options.crop) bit for bit.
FinetuneDraw finetune_transform(const ImageView& image, int size, const ChannelStats& stats,
                                const FinetuneAugmentOptions& options, Rng& rng, float* out);

}  // namespace clustermim
