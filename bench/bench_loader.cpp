/*
 * Throughput of BatchLoader with MAE augmentation (RandomResizedCrop + flip + normalize) on a
 * synthetic CIFAR-sized set: 20k random 32x32x3 images, batch 256, 1 and 2 workers. Reports
 * images per second (wall clock, since the work happens in the worker threads). Compare with
 * bench/loader_reference.py, the same pipeline in PyTorch with a 2-worker DataLoader.
 */
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "data/loader.h"
#include "data/transforms.h"

namespace {

using clustermim::Dataset;

const Dataset& synthetic_dataset() {
  static const Dataset dataset = [] {
    Dataset d;
    d.name = "synthetic-32";
    d.height = d.width = 32;
    d.channels = 3;
    const int64_t n = 20000;
    d.pixels.resize(static_cast<size_t>(n * 32 * 32 * 3));
    clustermim::Rng rng(1);
    for (size_t i = 0; i < d.pixels.size(); i += 8) {
      const uint64_t r = rng();
      std::memcpy(d.pixels.data() + i, &r, std::min<size_t>(8, d.pixels.size() - i));
    }
    d.labels.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) d.labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
    d.classes.assign(10, "c");
    return d;
  }();
  return dataset;
}

void BM_loader_augment(benchmark::State& state) {
  clustermim::LoaderOptions options;
  options.batch_size = 256;
  options.workers = static_cast<int>(state.range(0));
  options.stats.mean = {0.49f, 0.48f, 0.45f};
  options.stats.std = {0.25f, 0.24f, 0.26f};
  clustermim::BatchLoader loader(synthetic_dataset(), options);
  int64_t epoch = 0, images = 0;
  loader.start_epoch(epoch);
  clustermim::Batch batch;
  for (auto _ : state) {
    if (!loader.next(batch)) {
      loader.start_epoch(++epoch);
      loader.next(batch);
    }
    images += batch.size;
    benchmark::DoNotOptimize(batch.images.data());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(images),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_loader_augment)->Arg(1)->Arg(2)->ArgName("workers")->UseRealTime()
    ->Unit(benchmark::kMillisecond);

/// One train_transform call on one thread: the per-image cost the workers divide.
void BM_train_transform(benchmark::State& state) {
  const Dataset& d = synthetic_dataset();
  clustermim::Rng rng(2);
  std::vector<float> out(static_cast<size_t>(clustermim::transformed_floats(32)));
  int64_t i = 0;
  for (auto _ : state) {
    clustermim::train_transform(clustermim::image_view(d, i), 32, {}, {}, rng, out.data());
    i = (i + 1) % d.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_train_transform);

}  // namespace

BENCHMARK_MAIN();
