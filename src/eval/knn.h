/*
 * Weighted k-nearest-neighbour classification of frozen features (DINO's eval_knn.py, the k-NN
 * protocol of SPEC section 5).
 *
 * Rows are L2-normalized, so similarity is cosine: sim = test @ train^T. Each test row takes its
 * k most similar training rows; neighbour j votes for its class with weight exp(sim_j / T), and
 * the classes are ranked by their summed votes. Test rows go through in chunks and the training
 * bank in blocks, so memory is chunk * bank_block similarities at a time; the bank stays in its
 * stored dtype (float16 features: half the memory), each block read in float32.
 */
#pragma once

#include <cstdint>

#include "backend/torch_pch.h"
#include "eval/features.h"

namespace clustermim {

/// Parameters of knn_classify, with their defaults (DINO's).
struct KnnOptions {
  int64_t k = 20;             ///< neighbours per test row (clamped to N_train)
  double temperature = 0.07;  ///< T in the vote weight exp(sim / T); > 0
  int64_t chunk = 1024;       ///< test rows per similarity block
  int64_t bank_block = 65536; ///< training rows per similarity block (top-k merged across blocks)
};

/// Accuracies as fractions in [0, 1].
struct KnnResult {
  double top1 = 0;
  double top5 = 0;  ///< label among the top min(5, k, num_classes) classes by vote (DINO)
};

/// Classifies every row of `test` by a weighted vote of its nearest rows in `train`
/// (features [N, D] float32 or float16, labels [N] in [0, num_classes)); computes in float32 on
/// `device`.
KnnResult knn_classify(const FeatureSet& train, const FeatureSet& test, int64_t num_classes,
                       const KnnOptions& options = {}, torch::Device device = torch::kCPU);

}  // namespace clustermim
