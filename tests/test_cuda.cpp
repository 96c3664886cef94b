/*
 * The CUDA path, on hosts with a GPU (skipped elsewhere, as in CI): a training step's loss and
 * gradients on the GPU match the CPU's, under fp32 and under bf16 autocast, and K-means fitted
 * on the GPU reaches the CPU's objective. scripts/gpu_check.sh runs these with the CUDA build.
 */
#include <gtest/gtest.h>

#include "backend/torch_compat.h"
#include "models/mim.h"
#include "tokenizers/kmeans.h"

namespace clustermim {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

MimConfig small_config() {
  MimConfig c;
  c.encoder.image_size = 16;
  c.encoder.patch_size = 4;
  c.encoder.dim = 64;
  c.encoder.depth = 2;
  c.encoder.heads = 4;
  c.decoder.dim = 32;
  c.decoder.depth = 1;
  c.decoder.heads = 4;
  c.target = "tokens";
  c.vocab = 8;
  return c;
}

/// Loss and the flattened gradients of one step of `model` on `device`.
std::pair<double, torch::Tensor> step_on(MimModel model, torch::Device device, bool bf16) {
  torch::manual_seed(3);
  const torch::Tensor images = torch::randn({8, 3, 16, 16});
  const torch::Tensor targets = torch::randint(8, {8, 16}, torch::kLong);
  const Masking masking = random_masking(8, 16, 0.75, torch::kCPU);
  model->to(device);
  model->zero_grad();
  const Masking on_device{masking.ids_keep.to(device), masking.mask.to(device),
                          masking.ids_restore.to(device)};
  MimOutput out;
  {
    AutocastGuard autocast(device, torch::kBFloat16, bf16);
    out = model->forward(images.to(device), on_device);
  }
  const torch::Tensor loss = token_loss(out.predictions.to(torch::kFloat32), targets.to(device),
                                        on_device, 0.1);
  loss.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) {
    if (p.grad().defined()) grads.push_back(p.grad().reshape(-1).to(torch::kCPU));
  }
  return {loss.item<double>(), torch::cat(grads)};
}

TEST(Cuda, TrainingStepMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  for (const bool bf16 : {false, true}) {
    torch::manual_seed(0);
    MimModel cpu_model(small_config());
    MimModel gpu_model(small_config());
    {
      torch::NoGradGuard no_grad;
      const auto src = cpu_model->parameters(), dst = gpu_model->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    const auto [cpu_loss, cpu_grads] = step_on(cpu_model, torch::kCPU, bf16);
    const auto [gpu_loss, gpu_grads] = step_on(gpu_model, torch::kCUDA, bf16);
    const double tolerance = bf16 ? 2e-2 : 1e-4;
    EXPECT_NEAR(gpu_loss, cpu_loss, tolerance * std::abs(cpu_loss)) << "bf16 " << bf16;
    const double relative = ((gpu_grads - cpu_grads).norm() / cpu_grads.norm()).item<double>();
    EXPECT_LT(relative, bf16 ? 5e-2 : 1e-3) << "bf16 " << bf16;
  }
}

TEST(Cuda, KMeansReachesTheCpuObjective) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(1);
  const torch::Tensor points = torch::randn({20000, 16});
  KMeansOptions o;
  o.k = 32;
  o.iterations = 20;
  const double cpu = kmeans_objective(points, fit_kmeans(points, o).centroids);
  const KMeansResult gpu = fit_kmeans(points.to(torch::kCUDA), o);
  EXPECT_TRUE(gpu.centroids.is_cuda());
  EXPECT_NEAR(kmeans_objective(points, gpu.centroids.to(torch::kCPU)), cpu, 0.02 * cpu);
}

}  // namespace
}  // namespace clustermim
