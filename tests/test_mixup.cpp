/*
 * Mixup / CutMix (timm mode 'batch') and the soft-target cross-entropy: targets sum to 1,
 * CutMix's label weight is exactly its pasted area, Mixup is lam x + (1 - lam) x.flip(0), the
 * draw depends on (seed, step) only, alphas 0 leave the images alone with smoothed one-hot
 * targets, and the loss matches cross-entropy on one-hot targets.
 */
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/mixup.h"

namespace clustermim {
namespace {

constexpr int64_t kClasses = 10;

torch::Tensor test_images() {
  return torch::arange(6 * 3 * 16 * 16, torch::kFloat32).reshape({6, 3, 16, 16}) / 1000.0;
}
torch::Tensor test_labels() { return torch::tensor({0, 1, 2, 3, 4, 5}, torch::kInt64); }

TEST(Mixup, TargetsSumToOneAndBothKindsOccur) {
  const MixupOptions options;
  int cutmix = 0, mixup = 0;
  double lam_sum = 0;
  for (int64_t step = 0; step < 200; ++step) {
    const auto m = mix_batch(test_images(), test_labels(), kClasses, options, 1, step);
    ASSERT_EQ(m.targets.sizes(), (std::vector<int64_t>{6, kClasses}));
    ASSERT_TRUE(torch::allclose(m.targets.sum(1), torch::ones({6}), 0, 1e-6));
    ASSERT_GE(m.lam, 0.0);
    ASSERT_LE(m.lam, 1.0);
    (m.cutmix ? cutmix : mixup) += 1;
    if (!m.cutmix) lam_sum += m.lam;  // CutMix's corrected lam leans to 1 (clipped boxes)
  }
  EXPECT_GT(cutmix, 70);  // switch_prob 0.5
  EXPECT_GT(mixup, 70);
  EXPECT_NEAR(lam_sum / mixup, 0.5, 0.1);  // Beta(0.8, 0.8) is symmetric, sd 0.32
}

TEST(Mixup, CutmixLabelWeightIsThePastedArea) {
  MixupOptions options;
  options.mixup_alpha = 0;
  options.label_smoothing = 0;
  const auto images = test_images();
  int boxes = 0;
  for (int64_t step = 0; step < 50; ++step) {
    const auto m = mix_batch(images, test_labels(), kClasses, options, 2, step);
    ASSERT_TRUE(m.cutmix || m.lam == 1.0);
    const auto pasted = (m.images != images).any(1);  // [B, H, W]: pixels from the partner
    const double fraction = pasted[0].to(torch::kFloat64).mean().item<double>();
    EXPECT_DOUBLE_EQ(1.0 - m.lam, fraction) << step;
    EXPECT_DOUBLE_EQ(1.0 - m.lam, static_cast<double>((m.bottom - m.top) * (m.right - m.left)) / 256);
    // Own label weight lam, the partner's 1 - lam (labels differ from their partners').
    EXPECT_NEAR(m.targets[0][0].item<double>(), m.lam, 1e-6);
    EXPECT_NEAR(m.targets[0][5].item<double>(), 1.0 - m.lam, 1e-6);
    if (!m.cutmix) continue;
    ++boxes;
    using torch::indexing::Slice;
    const std::vector<torch::indexing::TensorIndex> box{
        Slice(), Slice(), Slice(m.top, m.bottom), Slice(m.left, m.right)};
    EXPECT_TRUE(torch::equal(m.images.index(box), images.flip(0).index(box)));
  }
  EXPECT_GT(boxes, 40);
}

TEST(Mixup, MixupIsAConvexCombinationWithTheFlippedBatch) {
  MixupOptions options;
  options.cutmix_alpha = 0;
  const auto images = test_images();
  const auto m = mix_batch(images, test_labels(), kClasses, options, 3, 0);
  ASSERT_FALSE(m.cutmix);
  ASSERT_LT(m.lam, 1.0);
  EXPECT_TRUE(torch::allclose(m.images, images * m.lam + images.flip(0) * (1.0 - m.lam), 0, 1e-6));
  const auto smooth = smooth_one_hot(test_labels(), kClasses, 0.1);
  EXPECT_TRUE(torch::allclose(m.targets, smooth * m.lam + smooth.flip(0) * (1 - m.lam), 0, 1e-6));
}

TEST(Mixup, SameSeedAndStepSameResult) {
  const MixupOptions options;
  const auto a = mix_batch(test_images(), test_labels(), kClasses, options, 4, 7);
  const auto b = mix_batch(test_images(), test_labels(), kClasses, options, 4, 7);
  EXPECT_EQ(a.lam, b.lam);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  const auto c = mix_batch(test_images(), test_labels(), kClasses, options, 4, 8);
  const auto d = mix_batch(test_images(), test_labels(), kClasses, options, 5, 7);
  EXPECT_NE(a.lam, c.lam);
  EXPECT_NE(a.lam, d.lam);
}

TEST(Mixup, AlphasZeroOrProbZeroOnlySmoothLabels) {
  MixupOptions none;
  none.mixup_alpha = none.cutmix_alpha = 0;
  MixupOptions never;
  never.prob = 0;
  for (const auto& options : {none, never}) {
    const auto m = mix_batch(test_images(), test_labels(), kClasses, options, 6, 0);
    EXPECT_EQ(m.lam, 1.0);
    EXPECT_TRUE(torch::equal(m.images, test_images()));
    EXPECT_NEAR(m.targets[2][2].item<double>(), 1 - 0.1 + 0.01, 1e-6);
    EXPECT_NEAR(m.targets[2][3].item<double>(), 0.01, 1e-6);
  }
}

TEST(Mixup, SoftTargetCrossEntropy) {
  const auto logits = torch::randn({5, kClasses});
  const auto labels = torch::tensor({1, 0, 9, 3, 3}, torch::kInt64);
  const auto one_hot = smooth_one_hot(labels, kClasses, 0);
  EXPECT_NEAR(soft_target_cross_entropy(logits, one_hot).item<double>(),
              torch::nn::functional::cross_entropy(logits, labels).item<double>(), 1e-5);
  const auto uniform = torch::full({5, kClasses}, 1.0 / kClasses);
  const auto expected = -(torch::log_softmax(logits, -1).mean(-1)).mean();
  EXPECT_NEAR(soft_target_cross_entropy(logits, uniform).item<double>(), expected.item<double>(),
              1e-5);
}

TEST(Mixup, RejectsBadInput) {
  MixupOptions o;
  o.prob = 2;
  EXPECT_THROW(mix_batch(test_images(), test_labels(), kClasses, o, 0, 0), Error);
  EXPECT_THROW(mix_batch(test_images(), test_labels(), 3, MixupOptions{}, 0, 0), Error);
  EXPECT_THROW(mix_batch(test_images(), test_labels().slice(0, 0, 4), kClasses, MixupOptions{}, 0, 0),
               Error);
}

}  // namespace
}  // namespace clustermim
