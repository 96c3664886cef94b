/*
 * Linear probe on cached features: BatchNorm (no affine) + Linear, SGD/LARS with momentum,
 * warmup + cosine per iteration (see linear_probe.h).
 */
#include "eval/linear_probe.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "train/classifier.h"
#include "train/schedule.h"

namespace clustermim {

namespace {

/// Top-1 and top-5 hit counts of `head(bn(x))` over `set`, in eval mode, `batch` rows at a time.
std::pair<int64_t, int64_t> count_hits(torch::nn::BatchNorm1d& bn, torch::nn::Linear& head,
                                       const FeatureSet& set, int64_t batch,
                                       torch::Device device) {
  torch::NoGradGuard no_grad;
  bn->eval();
  int64_t top1 = 0, top5 = 0;
  for (int64_t start = 0; start < set.size(); start += batch) {
    const int64_t end = std::min(start + batch, set.size());
    const torch::Tensor logits =
        head(bn(set.features.slice(0, start, end).to(device, torch::kFloat32)));
    const torch::Tensor labels = set.labels.slice(0, start, end).to(device, torch::kLong);
    top1 += count_topk_hits(logits, labels, 1);
    top5 += count_topk_hits(logits, labels, 5);
  }
  return {top1, top5};
}

}  // namespace

LinearProbeResult linear_probe(const FeatureSet& train, const FeatureSet& test,
                               int64_t num_classes, const LinearProbeOptions& options,
                               torch::Device device) {
  const auto start_time = std::chrono::steady_clock::now();
  CM_REQUIRE(num_classes >= 1, "linear probe: need at least one class, got ", num_classes);
  check_feature_set(train, num_classes, "linear probe train features");
  check_feature_set(test, num_classes, "linear probe test features");
  CM_REQUIRE(train.dim() == test.dim(), "linear probe: train features are ", train.dim(),
             "-d but test features are ", test.dim(), "-d");
  CM_REQUIRE(train.size() >= 2, "linear probe: need at least 2 training rows for BatchNorm");
  CM_REQUIRE(options.epochs >= 1 && options.batch_size >= 2 && options.warmup_epochs >= 0,
             "linear probe: need epochs >= 1, batch size >= 2 and warmup epochs >= 0");
  CM_REQUIRE(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0 &&
                 options.trust_coefficient > 0,
             "linear probe: lr, momentum and weight decay must be >= 0, trust coefficient > 0");
  CM_REQUIRE(options.optimizer == "sgd" || options.optimizer == "lars",
             "linear probe: unknown optimizer '", options.optimizer, "' (expected sgd or lars)");
  const bool lars = options.optimizer == "lars";

  const int64_t n = train.size(), dim = train.dim(), batch = options.batch_size;
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  torch::nn::BatchNorm1d bn(torch::nn::BatchNorm1dOptions(dim).affine(false).eps(1e-6));
  torch::nn::Linear head(dim, num_classes);
  {
    torch::NoGradGuard no_grad;
    head->weight.normal_(0.0, 0.01, generator);
    head->bias.zero_();
  }
  bn->to(device);
  head->to(device);
  const std::vector<torch::Tensor> params = {head->weight, head->bias};
  std::vector<torch::Tensor> velocity;
  for (const torch::Tensor& p : params) velocity.push_back(torch::zeros_like(p));

  const torch::Tensor x = train.features.to(device);  // stored dtype; each batch read in float32
  const torch::Tensor y = train.labels.to(device, torch::kLong);
  // Batch i covers [i * batch, (i + 1) * batch), the last one up to n; folding a remainder of a
  // single row into the previous batch keeps every batch valid for BatchNorm.
  const int64_t steps_per_epoch = std::max<int64_t>(1, (n + batch - 2) / batch);
  const int64_t total_steps = steps_per_epoch * options.epochs;
  const int64_t warmup_steps = steps_per_epoch * options.warmup_epochs;

  LinearProbeResult result;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    bn->train();
    const torch::Tensor order = torch::randperm(n, generator).to(device);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t begin = s * batch, end = s + 1 == steps_per_epoch ? n : begin + batch;
      const torch::Tensor rows = order.slice(0, begin, end);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(
          head(bn(x.index_select(0, rows).to(torch::kFloat32))), y.index_select(0, rows));
      for (const torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
      loss.backward();
      const double lr =
          cosine_lr(options.lr, epoch * steps_per_epoch + s, total_steps, warmup_steps);
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) {
        torch::Tensor step = params[i].grad();
        if (params[i].dim() > 1) {  // the weight: decay and (LARS) trust ratio; never the bias
          step = step + options.weight_decay * params[i];
          if (lars) {
            const torch::Tensor p_norm = params[i].norm(), s_norm = step.norm();
            const torch::Tensor one = torch::ones_like(p_norm);
            step = step * torch::where((p_norm > 0) & (s_norm > 0),
                                       options.trust_coefficient * p_norm / s_norm, one);
          }
        }
        velocity[i].mul_(options.momentum).add_(step);
        params[i].add_(velocity[i], -lr);
      }
      loss_sum += loss.item<double>() * static_cast<double>(end - begin);
    }
    result.epoch_loss.push_back(loss_sum / static_cast<double>(n));
  }

  const auto [test1, test5] = count_hits(bn, head, test, batch, device);
  const auto [train1, train5] = count_hits(bn, head, train, batch, device);
  result.top1 = static_cast<double>(test1) / static_cast<double>(test.size());
  result.top5 = static_cast<double>(test5) / static_cast<double>(test.size());
  result.train_top1 = static_cast<double>(train1) / static_cast<double>(n);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return result;
}

}  // namespace clustermim
