/*
 * Normal, Gamma and Beta draws on the SplitMix64 Rng of transforms.h, written out (Box-Muller,
 * Marsaglia-Tsang) because std:: distributions are implementation-defined: a seed gives the same
 * fine-tuning augmentation and the same mixup on every platform. Used by RandAugment's magnitude
 * noise, random erasing's per-pixel fill and mixup's Beta(alpha, alpha) mixing weight.
 */
#pragma once

#include "data/transforms.h"

namespace clustermim {

/// A standard normal draw by Box-Muller (two uniforms per call, the cosine branch; nothing is
/// cached, so the Rng is the whole state).
double normal01(Rng& rng);

/// A Gamma(shape, 1) draw, shape > 0: Marsaglia-Tsang (2000), with the boost
/// Gamma(a) = Gamma(a + 1) * U^(1/a) for a < 1.
double gamma_draw(Rng& rng, double shape);

/// A Beta(a, b) draw, a, b > 0: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). In [0, 1].
double beta_draw(Rng& rng, double a, double b);

}  // namespace clustermim
