/*
 * The learning-rate schedule shared by pretraining, fine-tuning and the linear probe: linear
 * warmup, then a half-cycle cosine decay, evaluated per iteration (MAE's util/lr_sched.py, with
 * the fractional epoch replaced by an iteration count). Fine-tuning scales it per layer
 * (train/layer_decay.h). Header-only and torch-free.
 */
#pragma once

#include <cmath>
#include <cstdint>

namespace clustermim {

/// Learning rate at iteration `step` (0-based) of `total`: `base * step / warmup` during the
/// first `warmup` iterations, then a half cosine from `base` down to `final_lr` reached at
/// `step == total`. Steps past `total` stay at `final_lr`.
inline double cosine_lr(double base, int64_t step, int64_t total, int64_t warmup,
                        double final_lr = 0.0) {
  if (step < warmup) return base * static_cast<double>(step) / static_cast<double>(warmup);
  if (step >= total) return final_lr;
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
  return final_lr + (base - final_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace clustermim
