/*
 * The fine-tuning training step of clustermim (issue 18) against a Python twin of MAE's
 * main_finetune.py step (bench/finetune_reference.py), from one run: the same model shape,
 * batch, recipe and precision, images/s (batch / median step time) of each and the ratio
 * ours / Python; and, separately, the fine-tuning training transform per image on one thread
 * (RandomResizedCrop + flip, RandAugment, normalize, random erasing) against timm's on Pillow.
 * Writes bench/out/finetune.json.
 *
 * The step is train/finetune.cpp's Trainer step, written out here on fixed random images (the
 * loader is the transform's part): VitClassifier (avg pooling + fc_norm) with drop path 0.1,
 * MAE's layer-wise lr decay groups into AdamW (0.9, 0.999), Mixup / CutMix with label smoothing
 * from a per-step seed, the classifier under bf16 autocast, the soft-target cross-entropy, the
 * gradient norm and the warmup + cosine lr, all with FinetuneOptions' defaults. The two sides
 * alternate (ours, then each twin, then ours again ...) for --rounds rounds; each ratio is the
 * median of the per-round ratios, reported with their min-max spread and every round's pair.
 *
 * With --device cuda both sides run on the GPU (the twin under torch.autocast('cuda')); where no
 * CUDA device is available the benchmark says so and exits 0 without measuring.
 *
 *   bench_finetune [--preset vit-tiny-32] [--batch 128] [--classes 10]
 *                  [--precision bf16|fp32|both] [--twins default,tuned,sdpa] [--rounds 5]
 *                  [--device cpu|cuda] [--transform-images 2000] [--transform-source 0]
 */
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <sstream>

#include "backend/runtime.h"
#include "backend/torch_compat.h"
#include "bench_util.h"
#include "core/error.h"
#include "data/finetune_augment.h"
#include "io/file_util.h"
#include "models/mim.h"
#include "train/adamw.h"
#include "train/classifier.h"
#include "train/finetune.h"
#include "train/layer_decay.h"
#include "train/mixup.h"
#include "train/schedule.h"

namespace cm = clustermim;
using cm::bench::add_ratio;
using cm::bench::median;
using cm::bench::run_python;

namespace {

/// Steps of the nominal epoch that places the step in the lr schedule (as the twin's).
constexpr int64_t kStepsPerEpoch = 1000;

/// Normalization of the synthetic images (the twin uses the same).
cm::ChannelStats bench_stats() {
  cm::ChannelStats stats;
  stats.mean = {0.49f, 0.48f, 0.45f};
  stats.std = {0.25f, 0.24f, 0.26f};
  return stats;
}

/// Matmul and conv GFLOP of one training step of the classifier: forward x 3 for backward.
double gflop_per_step(const cm::VitConfig& e, int64_t classes, int64_t batch) {
  const double b = static_cast<double>(batch), d = static_cast<double>(e.dim);
  const double patches = static_cast<double>((e.image_size / e.patch_size) * (e.image_size / e.patch_size));
  const double n = patches + 1, hidden = std::floor(d * e.mlp_ratio);
  const double per_block = b * n * d * (3 * d + d + 2 * hidden) + 2 * b * n * n * d;
  const double forward = b * patches * static_cast<double>(e.in_chans * e.patch_size * e.patch_size) * d +
                         static_cast<double>(e.depth) * per_block + b * d * static_cast<double>(classes);
  return 3 * 2 * forward / 1e9;
}

/// images/s (batch / median step time) of clustermim's fine-tuning step, fresh model and
/// optimizer, FinetuneOptions' defaults except bf16. The loss read-back waits for the device.
double time_ours(const cm::VitConfig& encoder, int64_t classes, int64_t batch, int warmup,
                 int steps, bool bf16, torch::Device device) {
  cm::FinetuneOptions o;
  o.batch_size = batch;
  o.bf16 = bf16;
  torch::manual_seed(0);
  cm::VitClassifier model(cm::make_classifier_config(encoder, classes, o));
  model->to(device);
  model->train();
  cm::AdamW optimizer(cm::param_groups_lrd(*model, encoder.depth, o.layer_decay),
                      cm::AdamWOptions{0.9, 0.999, 1e-8, o.weight_decay});
  const int64_t s = encoder.image_size;
  const torch::Tensor images = torch::randn({batch, encoder.in_chans, s, s}).to(device);
  const torch::Tensor labels = torch::randint(classes, {batch}, torch::kLong).to(device);
  const double peak_lr = o.blr * static_cast<double>(batch) / 256.0;
  auto step = [&](int64_t i) {
    const cm::MixedBatch mixed = cm::mix_batch(images, labels, classes, o.mixup, o.seed, i);
    torch::manual_seed(static_cast<uint64_t>(i));  // drop path's per-step seed
    torch::Tensor logits;
    {
      cm::AutocastGuard autocast(device, torch::kBFloat16, bf16);
      logits = model->forward(mixed.images);
    }
    const torch::Tensor loss =
        cm::soft_target_cross_entropy(logits.to(torch::kFloat32), mixed.targets.to(device));
    optimizer.zero_grad();
    loss.backward();
    const double value = loss.item<double>();
    const double norm = cm::clip_grad_norm(optimizer.params(), o.clip_grad);
    CM_REQUIRE(std::isfinite(value) && std::isfinite(norm), "bench_finetune: non-finite step");
    optimizer.step(cm::cosine_lr(peak_lr, i, static_cast<int64_t>(o.epochs) * kStepsPerEpoch,
                                 static_cast<int64_t>(o.warmup_epochs * kStepsPerEpoch), o.min_lr));
  };
  std::vector<double> seconds;
  for (int i = 0; i < warmup + steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step(i);
    if (device.is_cuda()) torch::cuda::synchronize();
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
    if (i >= warmup) seconds.push_back(dt.count());
  }
  return static_cast<double>(batch) / median(seconds);
}

/// images/s of finetune_transform (MAE's defaults) on this thread alone, `images` random
/// `source` x `source` RGB images to `size`, after 20 warm-up images.
double time_transform(int images, int source, int size) {
  const int distinct = std::min(images, 256);
  std::vector<uint8_t> pixels(static_cast<size_t>(distinct) * source * source * 3);
  cm::Rng fill(1);
  for (size_t i = 0; i < pixels.size(); i += 8) {
    const uint64_t r = fill();
    std::memcpy(pixels.data() + i, &r, std::min<size_t>(8, pixels.size() - i));
  }
  const cm::ChannelStats stats = bench_stats();
  const cm::FinetuneAugmentOptions options;
  std::vector<float> out(static_cast<size_t>(cm::transformed_floats(size)));
  cm::Rng rng(2);
  const int opencv_threads = cv::getNumThreads();
  cv::setNumThreads(1);  // cv::resize would spread large crops over threads: one core each side
  auto one = [&](int i) {
    const cm::ImageView view{pixels.data() + static_cast<size_t>(i % distinct) * source * source * 3,
                             source, source, 3};
    cm::finetune_transform(view, size, stats, options, rng, out.data());
  };
  for (int i = 0; i < std::min(20, images); ++i) one(i);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < images; ++i) one(i);
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
  cv::setNumThreads(opencv_threads);
  return static_cast<double>(images) / dt.count();
}

/// The JSON key suffix of a Python twin's figures: "" (default), "_tuned_malloc", "_sdpa".
std::string twin_suffix(const std::string& twin) {
  return twin == "tuned" ? "_tuned_malloc" : twin == "sdpa" ? "_sdpa" : "";
}

/// The environment a twin runs with: "tuned" gets the thresholds prepare_process_environment
/// gives mallopt(), as glibc's variables.
std::string twin_env(const std::string& twin) {
  return twin == "tuned" ? "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647 " : "";
}

}  // namespace

int main(int argc, char** argv) {
  cm::prepare_process_environment(argv);
  CLI::App app{"Fine-tuning step: clustermim vs a Python twin of MAE's main_finetune step"};
  std::string preset = "vit-tiny-32", precision = "bf16";
  std::string python = "/usr/bin/python3", out = "bench/out/finetune.json", device_name = "cpu";
  std::vector<std::string> twins{"default"};
  int64_t batch = 128, classes = 10;
  int steps = 10, warmup = 3, rounds = 5, threads = 0, transform_images = 2000, transform_source = 0;
  app.add_option("--preset", preset)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--classes", classes)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", steps)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup)->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--precision", precision)->capture_default_str()
      ->check(CLI::IsMember({"bf16", "fp32", "both"}));
  app.add_option("--twins", twins,
                 "Python variants: default, tuned (clustermim's malloc settings), sdpa (fused "
                 "attention, PyTorch >= 2)")->delimiter(',')->capture_default_str()
      ->check(CLI::IsMember({"default", "tuned", "sdpa"}));
  app.add_option("--rounds", rounds, "clustermim / twin pairs, alternated; medians and spreads"
                 " reported")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "0 = all cores")->capture_default_str();
  app.add_option("--transform-images", transform_images,
                 "images per round for the transform comparison; 0 = skip it")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--transform-source", transform_source,
                 "side of the transform's random source images; 0 = the model's input side")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--python", python)->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  app.add_option("--device", device_name, "cpu | cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (device_name.rfind("cuda", 0) == 0 && !torch::cuda::is_available()) {
    std::printf("bench_finetune: no CUDA device here (--device %s); skipped\n", device_name.c_str());
    return 0;
  }
  const torch::Device device = cm::resolve_device(device_name);
  threads = cm::configure_threads(threads);
  const cm::VitConfig encoder = cm::mim_preset(preset).encoder;
  const cm::FinetuneOptions recipe;
  const double gflop = gflop_per_step(encoder, classes, batch);
  const int size = static_cast<int>(encoder.image_size);
  const int source = transform_source > 0 ? transform_source : size;

  std::vector<std::string> precisions{precision};
  if (precision == "both") precisions = {"bf16", "fp32"};
  std::printf("fine-tuning step, %s, %ld classes, batch %ld, %d threads, median of %d steps "
              "(after %d warmup) x %d rounds, ~%.1f GFLOP/step\n",
              preset.c_str(), classes, batch, threads, steps, warmup, rounds, gflop);
  std::printf("%-9s %14s %10s", "precision", "clustermim/s", "GFLOP/s");
  for (const auto& t : twins) std::printf(" %14s %22s", ("python " + t).c_str(), "ratio [min, max]");
  std::printf("\n");
  nlohmann::json summary = {
      {"preset", preset}, {"classes", classes}, {"batch", batch}, {"threads", threads},
      {"steps", steps}, {"warmup", warmup}, {"rounds", rounds}, {"device", device.str()},
      {"gflop_per_step", gflop},
      {"model", to_json(cm::make_classifier_config(encoder, classes, recipe))},
      {"recipe", {{"layer_decay", recipe.layer_decay}, {"weight_decay", recipe.weight_decay},
                  {"drop_path", recipe.drop_path}, {"mixup_alpha", recipe.mixup.mixup_alpha},
                  {"cutmix_alpha", recipe.mixup.cutmix_alpha},
                  {"switch_prob", recipe.mixup.switch_prob},
                  {"label_smoothing", recipe.mixup.label_smoothing}}},
      {"rows", nlohmann::json::array()}};
  for (const auto& p : precisions) {
    std::ostringstream cmd;
    cmd << python << " bench/finetune_reference.py --dim " << encoder.dim << " --depth "
        << encoder.depth << " --heads " << encoder.heads << " --image-size " << encoder.image_size
        << " --patch " << encoder.patch_size << " --classes " << classes << " --batch " << batch
        << " --steps " << steps << " --warmup " << warmup << " --threads " << threads
        << " --drop-path " << recipe.drop_path << " --layer-decay " << recipe.layer_decay
        << " --weight-decay " << recipe.weight_decay << " --lr "
        << recipe.blr * static_cast<double>(batch) / 256.0 << " --min-lr " << recipe.min_lr
        << " --warmup-epochs " << recipe.warmup_epochs << " --epochs " << recipe.epochs
        << (p == "bf16" ? " --bf16" : "") << " --device " << (device.is_cuda() ? "cuda" : "cpu");
    std::vector<double> ours, ref_rss;
    std::map<std::string, std::vector<double>> ref;
    for (int r = 0; r < rounds; ++r) {  // interleaved, so drift hits both sides alike
      ours.push_back(time_ours(encoder, classes, batch, warmup, steps, p == "bf16", device));
      for (const auto& t : twins) {
        const nlohmann::json j = run_python(twin_env(t) + cmd.str() + (t == "sdpa" ? " --sdpa" : ""));
        ref[t].push_back(j.at("images_per_second").get<double>());
        ref_rss.push_back(j.at("peak_rss_mb").get<double>());
      }
    }
    const double ours_ips = median(ours);
    nlohmann::json row = {{"precision", p}, {"clustermim_images_per_second", ours_ips},
                          {"clustermim_gflops", gflop * ours_ips / static_cast<double>(batch)},
                          {"python_peak_rss_mb", median(ref_rss)}};
    std::printf("%-9s %14.1f %10.1f", p.c_str(), ours_ips, gflop * ours_ips / static_cast<double>(batch));
    for (const auto& t : twins) {
      const std::string suffix = twin_suffix(t);
      row["python" + suffix + "_images_per_second"] = median(ref[t]);
      summary["finetune_" + p + "_ratio_vs_python" + suffix] =
          add_ratio(row, "ratio_vs_python" + suffix, ours, ref[t], cm::bench::Better::higher);
      std::printf(" %14.1f %22s", median(ref[t]),
                  cm::bench::ratio_text(row, "ratio_vs_python" + suffix).c_str());
    }
    std::printf("\n");
    std::fflush(stdout);
    summary["rows"].push_back(row);
  }

  if (transform_images > 0) {
    std::ostringstream cmd;
    cmd << python << " bench/finetune_reference.py --transform --images " << transform_images
        << " --source " << source << " --image-size " << size;
    std::vector<double> ours, ref;
    for (int r = 0; r < rounds; ++r) {
      ours.push_back(time_transform(transform_images, source, size));
      ref.push_back(run_python(cmd.str()).at("images_per_second").get<double>());
    }
    nlohmann::json row = {{"source", source}, {"size", size}, {"images", transform_images},
                          {"clustermim_images_per_second", median(ours)},
                          {"python_images_per_second", median(ref)}};
    add_ratio(row, "ratio_vs_python", ours, ref, cm::bench::Better::higher);
    std::printf("transform %dx%d -> %d (one thread): clustermim %.0f images/s, Python (timm on "
                "Pillow) %.0f images/s, %s\n", source, source, size, median(ours), median(ref),
                cm::bench::ratio_text(row, "ratio_vs_python").c_str());
    summary["transform"] = row;
  }
  summary["clustermim_peak_rss_mb"] = cm::bench::peak_rss_mb();
  cm::write_file_atomic(out, summary.dump(2) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
