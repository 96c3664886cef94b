/*
 * K-means fit time and objective: clustermim's LibTorch Lloyd against sklearn's MiniBatchKMeans
 * with partial_fit (the paper's code), on the same pixel-patch vectors of a real dataset, from
 * one run. "ours eq s" is the time clustermim takes to reach sklearn's final objective (the
 * comparison at equal objective: the speed-up uses it); "ours s" is its full fit (up to
 * --iterations). Each of --rounds rounds fits sklearn then clustermim with the round's seed
 * (B A B A ...), and the round's speed-up is sklearn's time over clustermim's time to that
 * round's sklearn objective; prints the medians and the speed-up's min-max spread, writes every
 * round to bench/out/kmeans.json.
 *
 *   bench_kmeans [--data fashion-mnist] [--vocab 64,256] [--max-patches 200000] [--rounds 5]
 */
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backend/runtime.h"
#include "bench_util.h"
#include "core/error.h"
#include "io/file_util.h"
#include "tokenizers/kmeans_cpu.h"
#include "tokenizers/pixel_kmeans.h"

namespace cm = clustermim;
using cm::bench::add_ratio;
using cm::bench::median;
using cm::bench::run_python;

int main(int argc, char** argv) {
  cm::prepare_process_environment(argv);
  CLI::App app{"K-means: clustermim vs sklearn MiniBatchKMeans"};
  std::string data = "fashion-mnist", python = "/usr/bin/python3", out = "bench/out/kmeans.json";
  std::vector<int64_t> vocabs{64, 256};
  int64_t max_patches = 200000;
  int rounds = 5, iterations = 30;
  app.add_option("--data", data)->capture_default_str();
  app.add_option("--vocab", vocabs)->delimiter(',')->capture_default_str();
  app.add_option("--max-patches", max_patches)->capture_default_str();
  app.add_option("--iterations", iterations)->capture_default_str();
  app.add_option("--rounds", rounds, "sklearn / clustermim pairs, alternated")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--python", python)->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const int threads = cm::configure_threads(0);

  const cm::Dataset train = cm::load_dataset(data, "train");
  const cm::ChannelStats stats = cm::compute_channel_stats(train);
  cm::PixelKMeansOptions po;
  po.patch_size = 4;
  po.max_patches = max_patches;
  const torch::Tensor points = cm::sample_patch_vectors(train, stats, po, torch::kCPU).contiguous();
  const std::string points_file = "/tmp/clustermim-bench-points.f32";
  cm::write_file_atomic(points_file, points.data_ptr<float>(), points.numel() * sizeof(float));

  nlohmann::json rows = nlohmann::json::array();
  std::printf("K-means on %ld x %ld %s patch vectors, %d threads, median of %d rounds\n",
              points.size(0), points.size(1), data.c_str(), threads, rounds);
  std::printf("%6s %10s %10s %12s %10s %12s %22s\n", "K", "ours eq s", "ours s", "ours obj",
              "sklearn s", "sklearn obj", "speed-up [min, max]");
  for (int64_t k : vocabs) {
    std::vector<double> seconds, objective, to_ref, ref_seconds, ref_objective;
    for (int r = 0; r < rounds; ++r) {
      std::ostringstream cmd;
      // The reference gets the allocator settings this process sets with mallopt (runtime.h).
      cmd << "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647 " << python
          << " bench/kmeans_reference.py --points " << points_file << " --dim "
          << points.size(1) << " --k " << k << " --repeats 1 --seed " << r;
      const nlohmann::json ref = run_python(cmd.str());
      ref_seconds.push_back(ref.at("seconds").at(0).get<double>());
      ref_objective.push_back(ref.at("objective").at(0).get<double>());

      cm::KMeansOptions ko;
      ko.k = k;
      ko.iterations = iterations;
      ko.seed = r;
      const auto start = std::chrono::steady_clock::now();
      double reached = NAN;
      const cm::KMeansResult fit = cm::fit_kmeans(points, ko, [&](int, double obj, int64_t) {
        if (std::isnan(reached) && obj <= ref_objective.back()) {
          reached = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
      });
      seconds.push_back(fit.seconds);
      objective.push_back(cm::kmeans_objective(points, fit.centroids));
      to_ref.push_back(std::isnan(reached) ? fit.seconds : reached);
    }
    nlohmann::json row = {{"k", k}, {"ours_seconds", median(seconds)},
                          {"ours_objective", median(objective)},
                          {"ours_seconds_to_sklearn_objective", median(to_ref)},
                          {"sklearn_seconds", median(ref_seconds)},
                          {"sklearn_objective", median(ref_objective)}};
    add_ratio(row, "kmeans_ratio_vs_minibatch", to_ref, ref_seconds, cm::bench::Better::lower);
    std::printf("%6ld %10.2f %10.2f %12.5f %10.2f %12.5f %22s\n", k, median(to_ref),
                median(seconds), median(objective), median(ref_seconds), median(ref_objective),
                cm::bench::ratio_text(row, "kmeans_ratio_vs_minibatch").c_str());
    rows.push_back(row);
  }
  const nlohmann::json summary = {{"points", points.size(0)}, {"dim", points.size(1)},
                                  {"threads", threads}, {"rounds", rounds},
                                  {"iterations", iterations}, {"data", data}, {"rows", rows},
                                  {"fused_nearest_kernel", cm::fused_nearest_available()}};
  cm::write_file_atomic(out, summary.dump(2) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
