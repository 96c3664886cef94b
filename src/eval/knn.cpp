/*
 * Weighted k-NN on L2-normalized features (see knn.h).
 */
#include "eval/knn.h"

#include <algorithm>

#include "core/error.h"

namespace clustermim {

KnnResult knn_classify(const FeatureSet& train, const FeatureSet& test, int64_t num_classes,
                       const KnnOptions& options, torch::Device device) {
  CM_REQUIRE(num_classes >= 1, "k-NN: need at least one class, got ", num_classes);
  check_feature_set(train, num_classes, "k-NN train features");
  check_feature_set(test, num_classes, "k-NN test features");
  CM_REQUIRE(train.dim() == test.dim(), "k-NN: train features are ", train.dim(),
             "-d but test features are ", test.dim(), "-d");
  CM_REQUIRE(options.k >= 1, "k-NN: k must be >= 1, got ", options.k);
  CM_REQUIRE(options.temperature > 0, "k-NN: temperature must be > 0, got ", options.temperature);
  CM_REQUIRE(options.chunk >= 1, "k-NN: chunk must be >= 1, got ", options.chunk);
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  const auto unit_rows = F::NormalizeFuncOptions().dim(1);
  const int64_t k = std::min(options.k, train.size());
  const torch::Tensor bank = F::normalize(train.features.to(device, torch::kFloat32), unit_rows);
  const torch::Tensor bank_labels = train.labels.to(device, torch::kLong);
  int64_t top1 = 0, top5 = 0;
  for (int64_t start = 0; start < test.size(); start += options.chunk) {
    const int64_t end = std::min(start + options.chunk, test.size());
    const torch::Tensor queries =
        F::normalize(test.features.slice(0, start, end).to(device, torch::kFloat32), unit_rows);
    const torch::Tensor labels = test.labels.slice(0, start, end).to(device, torch::kLong);
    const auto [sims, neighbours] = queries.mm(bank.t()).topk(k, 1);
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
