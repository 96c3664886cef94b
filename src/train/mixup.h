/*
 * Mixup / CutMix with label smoothing as timm's Mixup(mixup_alpha=0.8, cutmix_alpha=1.0,
 * prob=1.0, switch_prob=0.5, mode='batch', correct_lam=True, label_smoothing=0.1), MAE's
 * fine-tuning, and the soft-target cross-entropy that goes with it.
 *
 * Mode 'batch': one draw per batch. With probability `prob` the batch is mixed with itself
 * flipped along the batch axis (sample i with sample B-1-i): by CutMix with probability
 * switch_prob (when both alphas are > 0), else by Mixup, lam ~ Beta(alpha, alpha) of the chosen
 * one. CutMix pastes the flipped batch's box (timm's rand_bbox: side int(S sqrt(1 - lam)), a
 * uniform centre, clipped to the image) and corrects lam to 1 - box area / image area.
 * Targets = lam * smooth(y) + (1 - lam) * smooth(y.flip(0)), smooth = one-hot with
 * on = 1 - s + s / C and off = s / C. Both alphas 0: no mixing, targets = smooth(y).
 * Why our own draws: the Rng (random_draws.h) is seeded from (seed, step) only, so a resumed run
 * mixes exactly as the uninterrupted one and the result does not depend on global torch state.
 * Data-parallel callers give each process its own seed (e.g. seed + rank): timm mixes each
 * process's local batch.
 */
#pragma once

#include <cstdint>

#include "backend/torch_pch.h"

namespace clustermim {

/// Mixup / CutMix parameters; the defaults are MAE's main_finetune.py.
struct MixupOptions {
  double mixup_alpha = 0.8;      ///< Beta(alpha, alpha) of Mixup's lam; 0 = no Mixup
  double cutmix_alpha = 1.0;     ///< Beta(alpha, alpha) of CutMix's lam; 0 = no CutMix
  double prob = 1.0;             ///< probability that a batch is mixed at all
  double switch_prob = 0.5;      ///< CutMix instead of Mixup, when both alphas are > 0
  double label_smoothing = 0.1;  ///< s of the smoothed one-hot targets
};

/// Throws Error when the options make no sense (negative alphas, probabilities outside [0, 1]).
void validate(const MixupOptions& options);

/// A mixed batch and what was drawn.
struct MixedBatch {
  torch::Tensor images;   ///< [B, 3, S, S], same dtype and device as the input
  torch::Tensor targets;  ///< [B, C] float32 soft targets, rows sum to 1
  double lam = 1.0;       ///< weight of each sample's own image and label (1 = not mixed)
  bool cutmix = false;    ///< CutMix was used (else Mixup, or nothing when lam = 1)
  /// CutMix box in pixels, rows [top, bottom) and columns [left, right); empty otherwise.
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};

/// Smoothed one-hot targets of `labels` [B] int64 over `classes`: [B, C] float32.
torch::Tensor smooth_one_hot(const torch::Tensor& labels, int64_t classes, double smoothing);

/// Mixes `images` [B, 3, S, S] (not modified) and returns them with soft targets for `labels`
/// [B] int64 in [0, classes). Deterministic in (options, seed, step).
MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes,
                     const MixupOptions& options, uint64_t seed, int64_t step);

/// mean over the batch of -sum_c targets[b, c] * log_softmax(logits[b])[c], computed in
/// float32: logits [B, C], targets [B, C]. Returns a scalar.
torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace clustermim
