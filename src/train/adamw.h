/*
 * AdamW with MAE's parameter groups, written out so that its state is plain named tensors.
 *
 * Why not torch::optim::AdamW: its state is keyed by tensor addresses and its API differs
 * between LibTorch 1.13 and 2.x; checkpoints need named, device-independent state that resumes
 * bit-exactly. The update is PyTorch's AdamW (decoupled weight decay, bias-corrected moments).
 * Groups follow MAE: no weight decay for biases and 1-D parameters (norms), decay otherwise;
 * frozen parameters (requires_grad false, e.g. sin-cos position embeddings) are left out. A
 * caller may instead hand over its own parameter list with per-parameter decay and lr scale
 * (fine-tuning's layer-wise lr decay, train/layer_decay.h), as PyTorch's param_groups with
 * "lr_scale": a parameter steps with lr * lr_scale, and its decoupled decay uses that lr too.
 */
#pragma once

#include <string>
#include <vector>

#include "backend/torch_pch.h"

namespace clustermim {

/// AdamW hyperparameters; lr is given per step.
struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;          ///< MAE's choice
  double eps = 1e-8;
  double weight_decay = 0.05;   ///< applied to parameters with decay = true
};

/// One optimized parameter and its moments.
struct AdamWParam {
  std::string name;
  torch::Tensor value;
  bool decay = true;
  torch::Tensor exp_avg;      ///< first moment, same shape as value
  torch::Tensor exp_avg_sq;   ///< second moment
  double lr_scale = 1.0;      ///< this parameter's lr (and decay) is lr * lr_scale
};

class AdamW {
 public:
  /// Collects the trainable parameters of `module` with MAE's decay rule.
  AdamW(torch::nn::Module& module, AdamWOptions options);
  /// Optimizes `params` as given (name, value, decay, lr_scale); their moments are set to zeros.
  AdamW(std::vector<AdamWParam> params, AdamWOptions options);

  /// One update with learning rate `lr` (times each parameter's lr_scale); parameters without a
  /// gradient are skipped.
  void step(double lr);
  /// Clears all gradients (leaves them undefined, as PyTorch's set_to_none).
  void zero_grad();
  /// Updates taken so far (the bias-correction step).
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }

  std::vector<AdamWParam>& params() { return params_; }
  const std::vector<AdamWParam>& params() const { return params_; }

 private:
  std::vector<AdamWParam> params_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

/// L2 norm of all gradients together (non-finite when any gradient is); when max_norm > 0 and
/// the norm exceeds it, scales the gradients down to max_norm.
double clip_grad_norm(std::vector<AdamWParam>& params, double max_norm);

}  // namespace clustermim
