/*
 * Weighted k-nearest-neighbour classification of frozen features (DINO's eval_knn.py, the k-NN
 * protocol of SPEC section 5).
 *
 * Rows are L2-normalized, so similarity is cosine: sim = test @ train^T. Each test row takes its
 * k most similar training rows; neighbour j votes for its class with weight exp(sim_j / T), and
 * the classes are ranked by their summed votes. Test rows go through in chunks, so memory is
 * chunk * N_train similarities at a time.
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
};

/// Accuracies as fractions in [0, 1].
struct KnnResult {
  double top1 = 0;
  double top5 = 0;  ///< label among the top min(5, k, num_classes) classes by vote (DINO)
};

/// Classifies every row of `test` by a weighted vote of its nearest rows in `train`
/// (features [N, D] float, labels [N] in [0, num_classes)); computes on `device`.
KnnResult knn_classify(const FeatureSet& train, const FeatureSet& test, int64_t num_classes,
                       const KnnOptions& options = {}, torch::Device device = torch::kCPU);

}  // namespace clustermim
