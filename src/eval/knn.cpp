/*
 * Weighted k-NN on L2-normalized features (see knn.h).
 */
#include "eval/knn.h"

#include <algorithm>

#include "core/error.h"
#include "train/classifier.h"

namespace clustermim {

namespace {

/// The `k` highest similarities of `queries` [Q, D] (float32, unit rows) against `bank` [N, D]
/// (unit rows, any float dtype) and their bank rows, both [Q, k]; the bank is read `block` rows
/// at a time in float32 and the running top-k merged with each block's.
std::pair<torch::Tensor, torch::Tensor> nearest(const torch::Tensor& queries,
                                                const torch::Tensor& bank, int64_t k,
                                                int64_t block) {
  torch::Tensor best_sims, best_rows;
  for (int64_t start = 0; start < bank.size(0); start += block) {
    const int64_t end = std::min(start + block, bank.size(0));
    const torch::Tensor part = bank.slice(0, start, end).to(torch::kFloat32);
    auto [sims, rows] = queries.mm(part.t()).topk(std::min(k, end - start), 1);
    if (start > 0) {
      rows = torch::cat({best_rows, rows + start}, 1);
      auto [merged, pick] = torch::cat({best_sims, sims}, 1).topk(k, 1);
      sims = merged;
      rows = rows.gather(1, pick);
    }
    best_sims = sims;
    best_rows = rows;
  }
  return {best_sims, best_rows};
}

}  // namespace

KnnResult knn_classify(const FeatureSet& train, const FeatureSet& test, int64_t num_classes,
                       const KnnOptions& options, torch::Device device) {
  CM_REQUIRE(num_classes >= 1, "k-NN: need at least one class, got ", num_classes);
  check_feature_set(train, num_classes, "k-NN train features");
  check_feature_set(test, num_classes, "k-NN test features");
  CM_REQUIRE(train.dim() == test.dim(), "k-NN: train features are ", train.dim(),
             "-d but test features are ", test.dim(), "-d");
  CM_REQUIRE(options.k >= 1, "k-NN: k must be >= 1, got ", options.k);
  CM_REQUIRE(options.temperature > 0, "k-NN: temperature must be > 0, got ", options.temperature);
  CM_REQUIRE(options.chunk >= 1 && options.bank_block >= 1, "k-NN: chunk and bank_block must be",
             " >= 1, got ", options.chunk, " and ", options.bank_block);
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  const auto unit_rows = F::NormalizeFuncOptions().dim(1);
  const int64_t k = std::min(options.k, train.size());
  // Unit rows in the stored dtype, normalized block by block in float32.
  const torch::Tensor bank = torch::empty(train.features.sizes(),
                                          train.features.options().device(device));
  for (int64_t start = 0; start < train.size(); start += options.bank_block) {
    const int64_t end = std::min(start + options.bank_block, train.size());
    bank.slice(0, start, end)
        .copy_(F::normalize(train.features.slice(0, start, end).to(device, torch::kFloat32),
                            unit_rows));
  }
  const torch::Tensor bank_labels = train.labels.to(device, torch::kLong);
  int64_t top1 = 0, top5 = 0;
  for (int64_t start = 0; start < test.size(); start += options.chunk) {
    const int64_t end = std::min(start + options.chunk, test.size());
    const torch::Tensor queries =
        F::normalize(test.features.slice(0, start, end).to(device, torch::kFloat32), unit_rows);
    const torch::Tensor labels = test.labels.slice(0, start, end).to(device, torch::kLong);
    const auto [sims, neighbours] = nearest(queries, bank, k, options.bank_block);
    // exp((sim - max sim) / T): the same ranking as exp(sim / T) (a common factor per row),
    // without overflow at small T.
    const torch::Tensor weights = ((sims - sims.narrow(1, 0, 1)) / options.temperature).exp();
    const torch::Tensor votes =
        torch::zeros({end - start, num_classes}, weights.options())
            .scatter_add_(1, bank_labels.index_select(0, neighbours.flatten()).view_as(neighbours),
                          weights);
    top1 += count_topk_hits(votes, labels, 1);
    top5 += count_topk_hits(votes, labels, std::min<int64_t>(5, k));
  }
  const double n = static_cast<double>(test.size());
  return {top1 / n, top5 / n};
}

}  // namespace clustermim
