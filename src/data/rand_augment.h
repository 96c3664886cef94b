/*
 * RandAugment as timm's rand_augment_transform('rand-m9-mstd0.5-inc1'), MAE's fine-tuning
 * augmentation, on uint8 RGB images [H, W, 3] in place.
 *
 * The string means: 2 operations per image (timm's default "n"), each drawn uniformly with
 * replacement from timm's "increasing" set (inc1, below) and applied with probability 0.5; its
 * level is N(9, 0.5) ("m9", "mstd0.5") clipped to [0, 10]. Issue 18 reads "9 ops magnitude 9";
 * MAE's config string has no "n", so it is 2 ops at magnitude 9, and that is what the defaults do.
 * The level maps to an op argument as timm's LEVEL_TO_ARG (signed ones negated with
 * probability 0.5), and each op follows Pillow's integer arithmetic: ImageOps autocontrast /
 * equalize / invert / posterize / solarize, ImageEnhance color / contrast / brightness /
 * sharpness (blend with a degenerate image, truncated like ImagingBlend), and the geometric ops
 * as Image.transform(AFFINE) with Pillow's bicubic (a = -1, edge-clamped taps, truncation; an
 * output pixel whose source centre falls outside the image gets the fill). Why not OpenCV's
 * warpAffine: its fixed-point interpolation and border blending are not Pillow's, and writing
 * the 20 lines keeps the result independent of the OpenCV build. Randomness comes from the
 * caller's Rng (no global state): the same seed gives the same image on every platform.
 */
#pragma once

#include <array>
#include <cstdint>

#include "data/transforms.h"

namespace clustermim {

/// timm's _RAND_INCREASING_TRANSFORMS, in timm's order (the op drawn is this index).
enum class RandAugmentOp {
  kAutoContrast,
  kEqualize,
  kInvert,
  kRotate,                ///< +-30 degrees at level 10, about the image centre
  kPosterizeIncreasing,   ///< keeps 4 - int(level * 0.4) bits
  kSolarizeIncreasing,    ///< inverts values >= 256 - int(level * 25.6)
  kSolarizeAdd,           ///< adds min(128, int(level * 11)) to values < 128
  kColorIncreasing,       ///< enhance factor 1 +- level * 0.09 (kept >= 0.1)
  kContrastIncreasing,
  kBrightnessIncreasing,
  kSharpnessIncreasing,
  kShearX,                ///< +-0.3 at level 10
  kShearY,
  kTranslateXRel,         ///< +-translate_pct of the width at level 10
  kTranslateYRel,
};
inline constexpr int kRandAugmentOpCount = 15;

/// The op's timm name ("AutoContrast", ..., "TranslateYRel").
const char* rand_augment_op_name(RandAugmentOp op);

/// RandAugment parameters; the defaults are timm's 'rand-m9-mstd0.5-inc1' (MAE's fine-tuning).
struct RandAugmentOptions {
  int ops = 2;                  ///< operations drawn per image (with replacement); 0 = off
  double magnitude = 9;         ///< level in [0, 10]
  double magnitude_std = 0.5;   ///< each op's level ~ N(magnitude, std), clipped to [0, 10]; 0 = fixed
  double prob = 0.5;            ///< probability that a drawn op is applied
  double translate_pct = 0.45;  ///< TranslateRel shift at level 10, as a fraction of the side
  /// Value of the geometric ops' pixels whose source lies outside the image: timm's fallback
  /// _FILL. (finetune_transform uses round(255 * mean) instead, as timm's create_transform.)
  std::array<uint8_t, 3> fill{128, 128, 128};
};

/// Throws Error when the options make no sense (ops < 0, levels outside [0, 10], std < 0,
/// prob outside [0, 1], translate_pct outside [0, 1]).
void validate(const RandAugmentOptions& options);

/// RandAugment of the uint8 RGB image `image` [height, width, 3] (row-major), in place.
/// Draws, in order: the `ops` op indices, then per op: apply? (prob), its level (when
/// magnitude_std > 0) and, for the signed ops, the sign.
void rand_augment(uint8_t* image, int height, int width, const RandAugmentOptions& options,
                  Rng& rng);

/// Applies one op at level `level` in [0, 10] (`negate` flips the sign of signed ops' argument)
/// to `image` [height, width, 3] in place; `translate_pct` and `fill` as in the options.
/// rand_augment's building block, public for tests and reference checks.
void apply_rand_augment_op(RandAugmentOp op, double level, bool negate, uint8_t* image,
                           int height, int width, double translate_pct,
                           const std::array<uint8_t, 3>& fill);

}  // namespace clustermim
