/*
 * End-to-end pretraining throughput and online tokenization, each against its Python twin in
 * the same run; writes bench/out/epoch.json.
 *
 * Epoch: clustermim's own pretrain() (loader threads with RandomResizedCrop + flip + normalize,
 * pixel K-means targets on the augmented crop, a vit-tiny-32 step under bf16 autocast, AdamW)
 * for --steps batches of a synthetic 32x32 RGB dataset; images/s over the whole run, start-up of
 * the loader included. The twin (bench/epoch_reference.py) is the pipeline the paper's code
 * runs: a torch DataLoader with worker processes and the same transforms, nearest-centroid
 * tokens by torch.cdist, and bench/pretrain_reference.py's model and step.
 * Tokenize: images/s of the pixel K-means assignment alone on normalized batches, ours against
 * torch.cdist(...).argmin, for each K.
 * Both comparisons alternate clustermim and the twin (A B A B ...) for --rounds rounds and report
 * the median of the per-round ratios with their min-max spread; every round is in the JSON.
 *
 *   bench_epoch [--steps 30] [--batch 128] [--images 10240] [--vocab 64,256,1024] [--rounds 5]
 */
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "backend/runtime.h"
#include "bench_util.h"
#include "io/file_util.h"
#include "models/mim.h"
#include "tokenizers/pixel_kmeans.h"
#include "train/pretrain.h"

namespace cm = clustermim;
using cm::bench::add_ratio;
using cm::bench::median;
using cm::bench::peak_rss_mb;
using cm::bench::run_python;

namespace {

cm::Dataset synthetic_dataset(int64_t n, int64_t side) {
  cm::Dataset d;
  d.name = "synthetic";
  d.split = "train";
  d.height = d.width = side;
  d.channels = 3;
  d.pixels.resize(static_cast<size_t>(n * side * side * 3));
  std::mt19937_64 rng(1);
  for (auto& p : d.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  for (int c = 0; c < 10; ++c) d.classes.push_back("class" + std::to_string(c));
  return d;
}

std::unique_ptr<cm::PixelKMeansTokenizer> fit_tokenizer(const cm::Dataset& data,
                                                        const cm::ChannelStats& stats, int64_t k) {
  cm::PixelKMeansOptions o;
  o.vocab = k;
  o.max_patches = std::max<int64_t>(20000, 4 * k);
  o.iterations = 3;  // centroid quality does not change the cost of assigning to them
  return cm::fit_pixel_kmeans(data, stats, o, torch::kCPU);
}

double time_epoch(const cm::Dataset& data, const cm::ChannelStats& stats,
                  const cm::Tokenizer& tokenizer, int64_t batch, int64_t steps, bool bf16) {
  cm::MimConfig config = cm::mim_preset("vit-tiny-32");
  config.vocab = tokenizer.spec().vocab;
  config.target = "tokens";
  torch::manual_seed(0);
  cm::MimModel model(config);
  cm::PretrainOptions o;
  o.epochs = 100;  // the schedule only has to span the steps timed
  o.batch_size = batch;
  o.max_steps = steps;
  o.bf16 = bf16;
  return cm::pretrain(model, &tokenizer, data, stats, o, torch::kCPU, nlohmann::json::object())
      .images_per_second;
}

double time_tokenize(const cm::Tokenizer& tokenizer, int64_t batch, int reps) {
  const torch::Tensor images = torch::randn({batch, 3, 32, 32});
  std::vector<double> seconds;
  for (int i = 0; i < reps + 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const torch::Tensor tokens = tokenizer.tokenize({images, {}, {}});
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
    if (i >= 2) seconds.push_back(dt.count());
  }
  return static_cast<double>(batch) / median(seconds);
}

}  // namespace

int main(int argc, char** argv) {
  cm::prepare_process_environment(argv);
  CLI::App app{"End-to-end pretraining and tokenization: clustermim vs the Python pipeline"};
  std::string python = "/usr/bin/python3", out = "bench/out/epoch.json";
  std::vector<int64_t> vocabs{64, 256, 1024};
  int64_t steps = 30, batch = 128, images = 10240, tokenize_batch = 256;
  int rounds = 5;
  app.add_option("--steps", steps)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--images", images)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--vocab", vocabs, "K of the tokenize rows (the epoch uses the first)")
      ->delimiter(',')->capture_default_str();
  app.add_option("--rounds", rounds, "clustermim / twin pairs, alternated")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--python", python)->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const int threads = cm::configure_threads(0);
  const cm::Dataset data = synthetic_dataset(images, 32);
  const cm::ChannelStats stats = cm::compute_channel_stats(data);

  nlohmann::json summary = {{"threads", threads}, {"images", images}, {"batch", batch},
                            {"steps", steps}, {"rounds", rounds}, {"preset", "vit-tiny-32"},
                            {"tokenize_batch", tokenize_batch}, {"tokenize", nlohmann::json::array()}};
  std::printf("tokenize: pixel K-means assignment, batches of %ld 32x32 images, %d threads\n",
              tokenize_batch, threads);
  std::printf("%6s %14s %14s %22s\n", "K", "clustermim/s", "python/s", "ratio [min, max]");
  std::unique_ptr<cm::PixelKMeansTokenizer> first;
  for (int64_t k : vocabs) {
    auto tokenizer = fit_tokenizer(data, stats, k);
    std::vector<double> ours, ref;
    for (int r = 0; r < rounds; ++r) {
      ours.push_back(time_tokenize(*tokenizer, tokenize_batch, 20));
      std::ostringstream cmd;
      cmd << python << " bench/epoch_reference.py --tokenize-only --vocab " << k << " --batch "
          << tokenize_batch << " --threads " << threads;
      ref.push_back(run_python(cmd.str()).at("images_per_second").get<double>());
    }
    nlohmann::json row = {{"k", k}, {"clustermim_images_per_second", median(ours)},
                          {"python_images_per_second", median(ref)}};
    add_ratio(row, "ratio_vs_python", ours, ref, cm::bench::Better::higher);
    std::printf("%6ld %14.0f %14.0f %22s\n", k, median(ours), median(ref),
                cm::bench::ratio_text(row, "ratio_vs_python").c_str());
    summary["tokenize"].push_back(row);
    if (!first) first = std::move(tokenizer);
  }

  std::printf("epoch: %ld steps of batch %ld, vit-tiny-32, K = %ld, bf16, loader + tokens + step\n",
              steps, batch, first->spec().vocab);
  std::vector<double> ours, ref, ref_rss;
  for (int r = 0; r < rounds; ++r) {
    ours.push_back(time_epoch(data, stats, *first, batch, steps, true));
    std::ostringstream cmd;
    cmd << python << " bench/epoch_reference.py --vocab " << first->spec().vocab << " --batch "
        << batch << " --steps " << steps << " --images " << images << " --threads " << threads
        << " --bf16";
    const nlohmann::json j = run_python(cmd.str());
    ref.push_back(j.at("images_per_second").get<double>());
    ref_rss.push_back(j.at("peak_rss_mb").get<double>());
  }
  nlohmann::json epoch = {{"vocab", first->spec().vocab},
                          {"clustermim_images_per_second", median(ours)},
                          {"python_images_per_second", median(ref)},
                          {"clustermim_peak_rss_mb", peak_rss_mb()},
                          {"python_peak_rss_mb", median(ref_rss)}};
  add_ratio(epoch, "ratio_vs_python", ours, ref, cm::bench::Better::higher);
  std::printf("%14s %14s %22s\n%14.1f %14.1f %22s\n", "clustermim/s", "python/s",
              "ratio [min, max]", median(ours), median(ref),
              cm::bench::ratio_text(epoch, "ratio_vs_python").c_str());
  summary["epoch"] = epoch;
  cm::write_file_atomic(out, summary.dump(2) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
