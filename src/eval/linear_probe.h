/*
 * The linear probe (SPEC section 5, MAE's main_linprobe.py) trained on cached features.
 *
 * Without augmentation the frozen encoder maps every image to the same feature each epoch, so
 * training the head on features extracted once is the same computation as MAE's loop, and much
 * cheaper. The head is BatchNorm1d(D, affine = false, eps 1e-6) followed by Linear(D, C) (weight
 * ~ N(0, 0.01^2), bias 0), trained with cross-entropy by SGD with momentum or MAE's LARS, with a
 * per-iteration cosine schedule (train/schedule.h) after an optional linear warmup. Evaluation
 * uses the BatchNorm running statistics. A run is a pure function of its inputs and the seed.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/torch_pch.h"
#include "eval/features.h"

namespace clustermim {

/// Parameters of linear_probe, with their defaults (the SPEC section 7 recipe).
struct LinearProbeOptions {
  int epochs = 50;              ///< passes over the training features
  int64_t batch_size = 1024;    ///< rows per step; a last batch of one row joins the one before
  double lr = 0.4;              ///< peak learning rate, used as given (not scaled by batch size;
                                ///< SPEC's 0.4 is for batch 1024)
  double momentum = 0.9;        ///< heavy-ball momentum (no dampening, not Nesterov)
  double weight_decay = 0.0;    ///< L2 on the Linear weight only (bias never decayed, as MAE)
  std::string optimizer = "sgd";  ///< "sgd" | "lars" (MAE's LARS: trust ratio on the weight)
  double trust_coefficient = 0.001;  ///< LARS eta: weight step = eta * ||w|| / ||g + wd w||
  int warmup_epochs = 0;        ///< epochs of linear warmup from 0 before the cosine decay
  uint64_t seed = 0;            ///< head initialisation and the per-epoch shuffles
};

/// What linear_probe returns. Accuracies are fractions in [0, 1].
struct LinearProbeResult {
  double top1 = 0;
  double top5 = 0;                 ///< label among the top min(5, num_classes) logits
  double train_top1 = 0;           ///< top-1 on the training features after the last epoch
  std::vector<double> epoch_loss;  ///< mean training cross-entropy of each epoch
  double seconds = 0;              ///< wall time of training and evaluation
};

/// Trains the probe on `train` and evaluates it on `test` (features [N, D] float32 or float16,
/// each batch read in float32; labels [N] in [0, num_classes), N_train >= 2), on `device`.
LinearProbeResult linear_probe(const FeatureSet& train, const FeatureSet& test,
                               int64_t num_classes, const LinearProbeOptions& options = {},
                               torch::Device device = torch::kCPU);

}  // namespace clustermim
