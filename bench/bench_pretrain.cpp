/*
 * One pretraining step (masking, MIM forward under autocast, token loss with label smoothing 0.1,
 * backward, AdamW) in clustermim's LibTorch against the same model, batch and precision written
 * in Python PyTorch from the MAE recipe (bench/pretrain_reference.py, the framework of the
 * paper's code), from one run. Reports images/s (batch / median step time) of each and the ratio
 * ours / Python; writes bench/out/pretrain.json. The two sides alternate (ours, then each twin,
 * then ours again ...) for --rounds rounds; each ratio is the median of the per-round ratios,
 * reported with their min-max spread and every round's pair.
 *
 * The Python child inherits this process's environment (OPENBLAS_CORETYPE included) but not the
 * mallopt() settings of prepare_process_environment, so it is also run with the same settings
 * passed as glibc's MALLOC_*_ variables (twin "tuned"), to show how much of the ratio is the
 * allocator.
 *
 * It also measures the machine's GEMM peak (the best GFLOP/s of square matmuls, 512-2048, in
 * each precision, through the same LibTorch calls autocast makes) and reports each step's
 * GFLOP/s as a fraction of it, and the peak resident memory of both sides.
 *
 * The first run also times its step phase by phase (forward, backward, AdamW), the device
 * synchronised between them, on as many extra steps, and so does each twin: where a step's time
 * goes on any device, and against which phase of the twin, including on a GPU, where the
 * operator profile (LibTorch 1.x's profiler) is not available.
 *
 * The GEMM floor: every matrix product of the step (forward, and the two products of each one's
 * backward) timed alone at its own shape and layout in the step's precision, summed. A step made
 * of nothing else would run at batch / floor images/s, so floor / (the twin's step time) bounds
 * the ratio that any fusion around LibTorch's GEMMs can reach.
 *
 * With --device cuda both sides run on the GPU (the twin under torch.autocast('cuda')), and the
 * step's GFLOP/s against the measured bf16 GEMM peak is its model FLOPs utilization; the twin's
 * --sdpa variant (fused attention, as timm now does) is timed too (scripts/gpu_check.sh).
 *
 *   bench_pretrain [--preset vit-tiny-32] [--batch 128] [--precision bf16|fp32|both]
 *                  [--twins default,tuned,sdpa] [--rounds 5] [--device cpu|cuda] [--profile N]
 */
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backend/runtime.h"
#include "bench_util.h"
#include "step_profile.h"
#include "backend/torch_compat.h"
#include "core/error.h"
#include "io/file_util.h"
#include "models/mim.h"
#include "train/adamw.h"

namespace cm = clustermim;
using cm::bench::add_ratio;
using cm::bench::median;
using cm::bench::peak_rss_mb;
using cm::bench::run_python;

namespace {

/// One matrix product of the step, [count x] A [m, k] @ B [k, n], repeated `times` per step.
struct Gemm {
  int64_t count, m, k, n, times;
};

/// The products of one training step's forward pass: patch embedding, per block qkv / proj / fc1 / fc2 and the attention's two batched products, the
/// decoder embedding and the head on the masked patches.
std::vector<Gemm> step_gemms(const cm::MimConfig& c, int64_t batch) {
  const cm::VitConfig& e = c.encoder;
  const int64_t patches = (e.image_size / e.patch_size) * (e.image_size / e.patch_size);
  const int64_t kept = cm::num_kept(patches, c.mask_ratio);
  std::vector<Gemm> gemms{{1, batch * patches, e.in_chans * e.patch_size * e.patch_size, e.dim, 1}};
  auto blocks = [&](int64_t n, int64_t d, int64_t heads, int64_t depth) {
    const int64_t hidden = static_cast<int64_t>(std::floor(static_cast<double>(d) * e.mlp_ratio));
    const int64_t rows = batch * n, hd = d / heads;
    for (const Gemm g : {Gemm{1, rows, d, 3 * d, depth}, Gemm{1, rows, d, d, depth},
                         Gemm{1, rows, d, hidden, depth}, Gemm{1, rows, hidden, d, depth},
                         Gemm{batch * heads, n, hd, n, depth}, Gemm{batch * heads, n, n, hd, depth}})
      gemms.push_back(g);
  };
  blocks(1 + kept, e.dim, e.heads, e.depth);
  gemms.push_back({1, batch * (1 + kept), e.dim, c.decoder.dim, 1});
  blocks(1 + patches, c.decoder.dim, c.decoder.heads, c.decoder.depth);
  gemms.push_back({1, batch * (patches - kept), c.decoder.dim, c.output_dim(), 1});
  return gemms;
}

/// The JSON key suffix of a Python twin's figures: "" (default), "_tuned_malloc", "_sdpa".
std::string twin_suffix(const std::string& twin) {
  return twin == "tuned" ? "_tuned_malloc" : twin == "sdpa" ? "_sdpa" : "";
}

/// Matmul and conv FLOPs of one training step of clustermim's model: its products, forward x 3
/// for backward.
double gflop_per_step(const cm::MimConfig& c, int64_t batch) {
  double forward = 0;
  for (const Gemm& g : step_gemms(c, batch))
    forward += 2.0 * static_cast<double>(g.count * g.m * g.k * g.n * g.times);
  return 3 * forward / 1e9;
}

/// Median seconds of `f` over 5 runs after 2 warm-ups (synchronised on a GPU).
template <typename F>
double time_median(F f, torch::Device device) {
  std::vector<double> seconds;
  for (int i = 0; i < 7; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    if (device.is_cuda()) torch::cuda::synchronize();
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
    if (i >= 2) seconds.push_back(dt.count());
  }
  return median(seconds);
}

/// Seconds of one step's products alone: each forward product A B^T-style as linear() runs it
/// (weight [n, k] transposed), and its backward pair dA = dC B^T, dB = A^T dC, in `dtype`.
double gemm_floor_seconds(const cm::MimConfig& config, int64_t batch, torch::ScalarType dtype,
                          torch::Device device) {
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  double total = 0;
  for (const Gemm& g : step_gemms(config, batch)) {
    auto make = [&](int64_t rows, int64_t cols) {  // 2-D for a single product, as addmm runs it
      return g.count == 1 ? torch::randn({rows, cols}, opts) : torch::randn({g.count, rows, cols}, opts);
    };
    const torch::Tensor a = make(g.m, g.k), w = make(g.n, g.k), dc = make(g.m, g.n);
    const torch::Tensor bt = w.transpose(-2, -1);  // [k, n], as linear() sees its weight
    const double seconds = time_median([&] { torch::matmul(a, bt); }, device) +
                           time_median([&] { torch::matmul(dc, w); }, device) +
                           time_median([&] { torch::matmul(dc.transpose(-2, -1), a); }, device);
    total += seconds * static_cast<double>(g.times);
  }
  return total;
}

/// What time_ours measures: images/s, the step split into phases, and the operator profile.
struct OursTiming {
  double images_per_second = 0;
  /// Median ms of forward (masking, model, loss), backward and the AdamW update, the device
  /// synchronised between phases; measured on extra steps when time_ours' `phases` is set.
  double forward_ms = 0, backward_ms = 0, optimizer_ms = 0;
  std::vector<cm::bench::OpTime> profile;
};

/// images/s (batch / median step time) of clustermim's step, fresh model and optimizer. The
/// loss read-back at the end of each step waits for the device. Then, with `phases`, `steps`
/// more steps timed phase by phase, and with profile_steps > 0 that many more under the
/// profiler (operators' self times).
OursTiming time_ours(const cm::MimConfig& config, int64_t batch, int warmup, int steps, bool bf16,
                     torch::Device device, bool phases, int profile_steps) {
  torch::manual_seed(0);
  cm::MimModel model(config);
  model->to(device);
  cm::AdamW optimizer(*model, cm::AdamWOptions{});
  const int64_t s = config.encoder.image_size, patches = model->encoder()->num_patches();
  const torch::Tensor images = torch::randn({batch, config.encoder.in_chans, s, s}).to(device);
  const torch::Tensor targets = torch::randint(config.vocab, {batch, patches}, torch::kLong).to(device);
  auto forward = [&] {
    const cm::Masking masking = cm::random_masking(batch, patches, config.mask_ratio, device);
    cm::MimOutput out;
    {
      cm::AutocastGuard autocast(device, torch::kBFloat16, bf16);
      out = model->forward(images, masking);
    }
    return cm::token_loss(out.predictions.to(torch::kFloat32), targets, masking, 0.1);
  };
  auto step = [&] {
    const torch::Tensor loss = forward();
    optimizer.zero_grad();
    loss.backward();
    optimizer.step(1e-4);
    const double value = loss.item<double>();
    CM_REQUIRE(std::isfinite(value), "non-finite loss");
  };
  auto elapsed = [&](std::chrono::steady_clock::time_point since) {
    if (device.is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
  };
  OursTiming timing;
  std::vector<double> seconds;
  for (int i = 0; i < warmup + steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    if (i >= warmup) seconds.push_back(elapsed(start) / 1e3);
  }
  timing.images_per_second = static_cast<double>(batch) / median(seconds);
  std::vector<double> forward_ms, backward_ms, optimizer_ms;
  for (int i = 0; phases && i < steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    const torch::Tensor loss = forward();
    forward_ms.push_back(elapsed(start));
    start = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    loss.backward();
    backward_ms.push_back(elapsed(start));
    start = std::chrono::steady_clock::now();
    optimizer.step(1e-4);
    optimizer_ms.push_back(elapsed(start));
  }
  if (phases) {
    timing.forward_ms = median(forward_ms);
    timing.backward_ms = median(backward_ms);
    timing.optimizer_ms = median(optimizer_ms);
  }
  if (profile_steps > 0) timing.profile = cm::bench::profile_self_times(step, profile_steps);
  return timing;
}

/// Best GFLOP/s over square matmuls in `dtype`, median of 5 each: n = 512..2048 on the CPU,
/// 2048..8192 on a GPU.
double gemm_peak_gflops(torch::ScalarType dtype, torch::Device device) {
  const std::vector<int64_t> sizes =
      device.is_cuda() ? std::vector<int64_t>{2048, 4096, 8192} : std::vector<int64_t>{512, 1024, 2048};
  double best = 0;
  for (int64_t n : sizes) {
    const torch::Tensor a = torch::randn({n, n}).to(device, dtype), b = torch::randn({n, n}).to(device, dtype);
    best = std::max(best, 2.0 * n * n * n / time_median([&] { torch::matmul(a, b); }, device) / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  cm::prepare_process_environment(argv);
  CLI::App app{"Pretraining step: clustermim vs the same model in Python PyTorch"};
  std::string preset = "vit-tiny-32", precision = "both";
  std::string python = "/usr/bin/python3", out = "bench/out/pretrain.json", device_name = "cpu";
  std::vector<std::string> twins{"default", "tuned"};
  int64_t vocab = 512, batch = 128;
  int steps = 10, warmup = 3, rounds = 5, threads = 0, profile_steps = 0;
  app.add_option("--preset", preset)->capture_default_str();
  app.add_option("--vocab", vocab)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup)->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--precision", precision)->capture_default_str()
      ->check(CLI::IsMember({"bf16", "fp32", "both"}));
  app.add_option("--twins", twins,
                 "Python variants: default, tuned (clustermim's malloc settings), sdpa (fused "
                 "attention)")->delimiter(',')->capture_default_str()
      ->check(CLI::IsMember({"default", "tuned", "sdpa"}));
  app.add_option("--rounds,--repeats", rounds, "clustermim / twin pairs, alternated; medians"
                 " and spreads reported")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "0 = all cores")->capture_default_str();
  app.add_option("--profile", profile_steps,
                 "after the first run, profile this many more steps of clustermim (operator self"
                 " times; LibTorch 1.x)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--python", python)->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  app.add_option("--device", device_name, "cpu | cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const torch::Device device = cm::resolve_device(device_name);
  threads = cm::configure_threads(threads);
  cm::MimConfig config = cm::mim_preset(preset);
  config.vocab = vocab;
  cm::validate_mim_config(config);
  const cm::VitConfig& e = config.encoder;
  const double gflop = gflop_per_step(config, batch);

  std::vector<std::string> precisions{precision};
  if (precision == "both") precisions = {"bf16", "fp32"};
  std::printf("pretraining step, %s, vocab %ld, batch %ld, %d threads, median of %d steps "
              "(after %d warmup) x %d rounds, ~%.1f GFLOP/step (clustermim)\n",
              preset.c_str(), vocab, batch, threads, steps, warmup, rounds, gflop);
  std::printf("%-9s %14s %13s %7s", "precision", "clustermim/s", "GFLOP/s", "");
  for (const auto& t : twins)
    std::printf(" %14s %22s", ("python " + t).c_str(), "ratio [min, max]");
  std::printf("\n");

  std::map<std::string, double> peak = {{"bf16", gemm_peak_gflops(torch::kBFloat16, device)},
                                        {"fp32", gemm_peak_gflops(torch::kFloat32, device)}};
  std::printf("GEMM peak: bf16 %.0f GFLOP/s, fp32 %.0f GFLOP/s\n", peak["bf16"], peak["fp32"]);
  nlohmann::json summary = {{"preset", preset}, {"vocab", vocab}, {"batch", batch},
                            {"gemm_bf16_peak_gflops", peak["bf16"]},
                            {"gemm_fp32_peak_gflops", peak["fp32"]},
                            {"threads", threads}, {"steps", steps}, {"warmup", warmup},
                            {"device", device.str()},
                            {"rounds", rounds}, {"gflop_per_step", gflop},
                            {"model", cm::to_json(config)}, {"rows", nlohmann::json::array()}};
  for (const auto& p : precisions) {
    std::ostringstream cmd;
    cmd << python << " bench/pretrain_reference.py --dim " << e.dim << " --depth " << e.depth
        << " --heads " << e.heads << " --dec-dim " << config.decoder.dim << " --dec-depth "
        << config.decoder.depth << " --dec-heads " << config.decoder.heads << " --image-size "
        << e.image_size << " --patch " << e.patch_size << " --vocab " << vocab << " --batch "
        << batch << " --steps " << steps << " --warmup " << warmup << " --threads " << threads
        << " --mask-ratio " << config.mask_ratio << (p == "bf16" ? " --bf16" : "")
        << " --device " << (device.is_cuda() ? "cuda" : "cpu");
    std::vector<double> ours, ref_rss;
    std::map<std::string, std::vector<double>> ref;
    std::map<std::string, nlohmann::json> ref_phases;  // each twin's phases, first run
    OursTiming first;  // the first run's phases and profile
    for (int r = 0; r < rounds; ++r) {  // interleaved, so drift hits both sides alike
      const OursTiming run = time_ours(config, batch, warmup, steps, p == "bf16", device, r == 0,
                                       r == 0 ? profile_steps : 0);
      if (r == 0) first = run;
      ours.push_back(run.images_per_second);
      for (const auto& t : twins) {
        // The values prepare_process_environment gives mallopt(), as glibc environment variables.
        const std::string env =
            t == "tuned" ? "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647 " : "";
        const nlohmann::json j = run_python(env + cmd.str() + (t == "sdpa" ? " --sdpa" : "") +
                                            (r == 0 ? "" : " --no-phases"));
        ref[t].push_back(j.at("images_per_second").get<double>());
        if (r == 0) ref_phases[t] = j.at("phase_ms");
        ref_rss.push_back(j.at("peak_rss_mb").get<double>());
      }
    }
    const double ours_ips = median(ours);
    const double floor_ips = static_cast<double>(batch) /
        gemm_floor_seconds(config, batch, p == "bf16" ? torch::kBFloat16 : torch::kFloat32, device);
    std::vector<double> fractions;  // each round's GFLOP/s over the GEMM peak
    for (double ips : ours) fractions.push_back(gflop * ips / static_cast<double>(batch) / peak[p]);
    const auto [fraction_lo, fraction_hi] = std::minmax_element(fractions.begin(), fractions.end());
    nlohmann::json row = {{"precision", p}, {"clustermim_images_per_second", ours_ips},
                          {"gemm_floor_images_per_second", floor_ips},
                          {"clustermim_gflops", gflop * ours_ips / batch},
                          {"peak_fraction", median(fractions)},
                          {"peak_fraction_spread", {*fraction_lo, *fraction_hi}},
                          {"python_peak_rss_mb", median(ref_rss)},
                          {"phase_ms", {{"forward", first.forward_ms}, {"backward", first.backward_ms},
                                        {"optimizer", first.optimizer_ms}}}};
    summary[p + "_peak_fraction"] = median(fractions);
    std::printf("%-9s %14.1f %13.1f %7s", p.c_str(), ours_ips, gflop * ours_ips / batch, "");
    for (const auto& t : twins) {
      const std::string suffix = twin_suffix(t);
      row["python" + suffix + "_images_per_second"] = median(ref[t]);
      row["python" + suffix + "_phase_ms"] = ref_phases[t];
      summary["pretrain_" + p + "_ratio_vs_python" + suffix] =
          add_ratio(row, "ratio_vs_python" + suffix, ours, ref[t], cm::bench::Better::higher);
      // The floor is measured once; its spread is the twin's, round by round.
      add_ratio(row, "gemm_floor_ratio_vs_python" + suffix,
                std::vector<double>(ref[t].size(), floor_ips), ref[t], cm::bench::Better::higher);
      std::printf(" %14.1f %22s", median(ref[t]),
                  cm::bench::ratio_text(row, "ratio_vs_python" + suffix).c_str());
    }
    std::printf("\n%-9s %14.1f %13s %7s", "  floor", floor_ips, "GEMMs alone", "");
    for (const auto& t : twins) {
      const std::string suffix = twin_suffix(t);
      std::printf(" %14s %22s", "",
                  cm::bench::ratio_text(row, "gemm_floor_ratio_vs_python" + suffix).c_str());
    }
    std::printf("\n  phases: forward %.1f ms, backward %.1f ms, AdamW %.1f ms (synchronised)\n",
                first.forward_ms, first.backward_ms, first.optimizer_ms);
    row["profile"] = nlohmann::json::array();
    double profiled_ms = 0;
    for (const auto& op : first.profile) profiled_ms += op.ms_per_step;
    row["profile_total_ms_per_step"] = profiled_ms;
    for (size_t i = 0; i < first.profile.size() && i < 15; ++i) {
      const cm::bench::OpTime& op = first.profile[i];
      row["profile"].push_back({{"op", op.name}, {"ms_per_step", op.ms_per_step}});
      std::printf("  %-50s %8.1f ms/step\n", op.name.c_str(), op.ms_per_step);
    }
    std::fflush(stdout);
    summary["rows"].push_back(row);
  }
  summary["clustermim_peak_rss_mb"] = peak_rss_mb();
  cm::write_file_atomic(out, summary.dump(2) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
