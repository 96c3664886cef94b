/*
 * Tests of the image sources (data/image_source.h, data/stream_image_source.h): the in-memory
 * source gives the transforms' pixels (crop_resize, eval_resize at crop ratio 1 =
 * eval_transform); channel statistics estimated from a sample of images (exact on a whole square
 * dataset, close on a sample, deterministic, bad samples left out); the streamed source under the
 * BatchLoader: evaluation batches close to the same images decoded in memory, the same stream for
 * any worker count, shards, crops drawn on each original image, a truncated JPEG skipped,
 * counted and named, too many = Error; a folder, its tar and its WebDataset shards indexed by
 * index_samples stream the same batches. Datasets are built by hand; the streamed ones are JPEG and
 * PNG files written here with OpenCV and indexed by hand.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "base/data_test_util.h"
#include "core/error.h"
#include "data/image_source.h"
#include "data/jpeg_crop_decode.h"
#include "data/loader.h"
#include "data/sample_index.h"
#include "data/stream_image_source.h"
#include "data/webdataset.h"

namespace clustermim {
namespace {

Dataset random_dataset(int64_t n, int64_t height, int64_t width, int64_t channels,
                       uint64_t seed = 9) {
  Dataset d;
  d.name = "synthetic";
  d.height = height;
  d.width = width;
  d.channels = channels;
  d.pixels.resize(static_cast<size_t>(n * height * width * channels));
  std::mt19937_64 rng(seed);
  // Channel c lies in [40 c, 40 c + 150): distinct means per channel.
  for (size_t p = 0; p < d.pixels.size(); ++p)
    d.pixels[p] = static_cast<uint8_t>(40 * static_cast<int64_t>(p % channels) + rng() % 150);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 4));
  d.classes = {"a", "b", "c", "d"};
  return d;
}

std::vector<float> normalized(const std::vector<uint8_t>& pixels, int size,
                              const ChannelStats& stats) {
  std::vector<float> out(static_cast<size_t>(transformed_floats(size)));
  normalize_image({pixels.data(), size, size, 3}, stats, out.data());
  return out;
}

TEST(MemoryImageSource, CropsAndEvalAreTheTransforms) {
  ChannelStats stats;
  stats.mean = {0.4f, 0.45f, 0.5f};
  stats.std = {0.2f, 0.25f, 0.3f};
  for (int64_t channels : {1, 3}) {
    const Dataset ds = random_dataset(5, 20, 26, channels);
    const MemoryImageSource source(ds);
    EXPECT_EQ(source.size(), 5);
    EXPECT_EQ(source.label(3), 3);
    EXPECT_EQ(source.num_classes(), 4);
    EXPECT_EQ(source.native_side(), 20);
    EXPECT_EQ(source.original_size(2).height, 20);
    EXPECT_EQ(source.original_size(2).width, 26);
    EXPECT_EQ(source.default_crop_ratio(), 1.f);
    EXPECT_EQ(source.sample_name(4), "synthetic[4]");
    std::vector<uint8_t> pixels(12 * 12 * 3);
    std::vector<float> expected(static_cast<size_t>(transformed_floats(12)));
    for (int64_t i = 0; i < 5; ++i) {
      Rng a(i), b(i);
      const CropBox box = source.random_crop(i, {}, a, 12, pixels.data());
      const CropBox direct =
          train_transform(image_view(ds, i), 12, stats, {}, b, expected.data());
      EXPECT_EQ(box.top, direct.top);
      EXPECT_EQ(box.left, direct.left);
      EXPECT_EQ(box.height, direct.height);
      EXPECT_EQ(box.width, direct.width);
      EXPECT_EQ(box.flipped, direct.flipped);
      EXPECT_TRUE(normalized(pixels, 12, stats) == expected) << "crop of " << i;
      source.eval(i, 12, 1.f, pixels.data());
      EXPECT_TRUE(normalized(pixels, 12, stats) == eval_transform(image_view(ds, i), 12, stats))
          << "eval of " << i;
    }
  }
  Dataset broken = random_dataset(3, 8, 8, 3);
  broken.pixels.pop_back();
  EXPECT_THROW(MemoryImageSource{broken}, Error);
  EXPECT_THROW(MemoryImageSource{Dataset{}}, Error);
}

TEST(MemoryImageSource, EvalCropRatioCropsTheCenterOfTheResizedImage) {
  // A 16x16 image resized to floor(8 / 0.5) = 16 is not resized: the center 8x8 is a copy.
  const Dataset ds = random_dataset(1, 16, 16, 3);
  const MemoryImageSource source(ds);
  std::vector<uint8_t> pixels(8 * 8 * 3);
  source.eval(0, 8, 0.5f, pixels.data());
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(pixels[(y * 8 + x) * 3 + c], ds.image(0)[((y + 4) * 16 + x + 4) * 3 + c]);
  EXPECT_THROW(source.eval(0, 8, 0.f, pixels.data()), Error);
  EXPECT_THROW(source.eval(0, 8, 1.5f, pixels.data()), Error);
}

TEST(ChannelStatsEstimate, EqualsTheFullPassOnAWholeSquareDataset) {
  for (int64_t channels : {1, 3}) {
    const Dataset ds = random_dataset(40, 12, 12, channels);
    const ChannelStats full = compute_channel_stats(ds);
    const ChannelStats estimate = estimate_channel_stats(MemoryImageSource(ds), 1000, 3);
    for (int c = 0; c < 3; ++c) {
      EXPECT_FLOAT_EQ(estimate.mean[c], full.mean[c]) << "channel " << c;
      EXPECT_FLOAT_EQ(estimate.std[c], full.std[c]) << "channel " << c;
    }
  }
}

TEST(ChannelStatsEstimate, ASampleIsCloseAndDeterministic) {
  const Dataset ds = random_dataset(400, 16, 16, 3);
  const MemoryImageSource source(ds);
  const ChannelStats full = compute_channel_stats(ds);
  const ChannelStats a = estimate_channel_stats(source, 50, 1);
  const ChannelStats b = estimate_channel_stats(source, 50, 1);
  const ChannelStats c = estimate_channel_stats(source, 50, 2);
  bool differs = false;
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(a.mean[k], b.mean[k]);
    EXPECT_EQ(a.std[k], b.std[k]);
    EXPECT_NEAR(a.mean[k], full.mean[k], 0.005);
    EXPECT_NEAR(a.std[k], full.std[k], 0.005);
    differs = differs || a.mean[k] != c.mean[k];
  }
  EXPECT_TRUE(differs);  // another seed, another sample
  EXPECT_NEAR(a.mean[2] - a.mean[0], 80.0 / 255, 0.01);
  EXPECT_THROW(estimate_channel_stats(source, 0), Error);
}

/// Fails on the samples in `bad`, as a corrupt file does.
class FailingSource : public MemoryImageSource {
 public:
  FailingSource(const Dataset& dataset, std::set<int64_t> bad)
      : MemoryImageSource(dataset), bad_(std::move(bad)) {}
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override {
    if (bad_.count(i)) throw Error("sample " + std::to_string(i) + ": corrupt JPEG");
    MemoryImageSource::eval(i, out_size, crop_ratio, out);
  }

 private:
  std::set<int64_t> bad_;
};

TEST(ChannelStatsEstimate, LeavesOutSamplesThatFailAndErrsWhenNoneDecodes) {
  Dataset ds = random_dataset(4, 8, 8, 3);
  std::fill(ds.pixels.begin() + 3 * 64 * 3, ds.pixels.end(), uint8_t{255});  // image 3: white
  const ChannelStats good = estimate_channel_stats(MemoryImageSource(ds), 10);
  const ChannelStats skipping = estimate_channel_stats(FailingSource(ds, {3}), 10);
  for (int c = 0; c < 3; ++c) EXPECT_LT(skipping.mean[c], good.mean[c]);
  try {
    estimate_channel_stats(FailingSource(ds, {0, 1, 2, 3}), 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 0: corrupt JPEG"), std::string::npos) << e.what();
  }
}

/// A smooth RGB image [h, w, 3] (sines, different per seed) with +-3 levels of noise.
cv::Mat smooth_rgb(int h, int w, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double fx = 20 + static_cast<double>(seed % 7) * 5;
  const double fy = 17 + static_cast<double>(seed % 5) * 6;
  cv::Mat image(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      auto* p = image.ptr<uint8_t>(y, x);
      const double base[3] = {128 + 90 * std::sin(x / fx) * std::cos(y / fy),
                              128 + 80 * std::cos((x + y) / (fx + fy)),
                              40 + 150.0 * x / w * y / h};
      for (int c = 0; c < 3; ++c)
        p[c] = cv::saturate_cast<uint8_t>(base[c] + static_cast<int>(rng() % 7) - 3);
    }
  }
  return image;
}

/// Image files in a temp folder, indexed by hand as index_samples would list them.
struct StreamFixture {
  SampleIndex index;
  std::vector<cv::Mat> decoded;  ///< each file's full decode, RGB

  /// Writes one image per size (file k: ".png" when png[k], else JPEG quality 90), label k % 3.
  explicit StreamFixture(const std::vector<std::pair<int, int>>& sizes,
                         const std::vector<bool>& png = {}) {
    const std::string dir = test::make_temp_dir();
    index.source = dir;
    index.split = "train";
    index.classes = {"a", "b", "c"};
    for (size_t k = 0; k < sizes.size(); ++k) {
      const bool is_png = k < png.size() && png[k];
      const std::string path = dir + "/img" + std::to_string(k) + (is_png ? ".png" : ".jpg");
      cv::Mat bgr;
      cv::cvtColor(smooth_rgb(sizes[k].first, sizes[k].second, k + 1), bgr, cv::COLOR_RGB2BGR);
      EXPECT_TRUE(cv::imwrite(path, bgr, {cv::IMWRITE_JPEG_QUALITY, 90}));
      add(path, static_cast<int32_t>(k % 3));
    }
  }

  void add(const std::string& path, int32_t label) {
    index.files.push_back(path);
    index.samples.push_back({static_cast<int32_t>(index.files.size() - 1), 0,
                             static_cast<int64_t>(std::filesystem::file_size(path)), label});
    index.names.push_back(path);
    cv::Mat rgb = cv::imread(path, cv::IMREAD_COLOR);
    if (!rgb.empty()) cv::cvtColor(rgb, rgb, cv::COLOR_BGR2RGB);
    decoded.push_back(rgb);
  }

  /// The full decodes as an in-memory Dataset (every image must have one size).
  Dataset dataset() const {
    Dataset d;
    d.name = "decoded";
    d.height = decoded[0].rows;
    d.width = decoded[0].cols;
    d.channels = 3;
    for (size_t k = 0; k < decoded.size(); ++k) {
      const cv::Mat& m = decoded[k];
      EXPECT_TRUE(m.isContinuous() && m.rows == d.height && m.cols == d.width);
      d.pixels.insert(d.pixels.end(), m.data, m.data + m.total() * 3);
      d.labels.push_back(index.samples[k].label);
    }
    d.classes = index.classes;
    return d;
  }
};

std::vector<Batch> collect(BatchLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  Batch b;
  while (loader.next(b)) batches.push_back(b);
  return batches;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_EQ(a[i].labels, b[i].labels) << "batch " << i;
    EXPECT_TRUE(a[i].images == b[i].images) << "batch " << i;
  }
}

LoaderOptions stream_options(int64_t batch, int workers, int size) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.image_size = size;
  o.seed = 11;
  o.drop_last = false;
  o.stats.mean = {0.5f, 0.45f, 0.4f};
  o.stats.std = {0.25f, 0.25f, 0.25f};
  return o;
}

TEST(StreamImageSource, AnswersFromTheIndexAndTheHeaders) {
  StreamFixture f({{60, 80}, {90, 50}, {33, 33}}, {false, true, false});
  const StreamImageSource source(f.index);
  EXPECT_EQ(source.size(), 3);
  EXPECT_EQ(source.label(1), 1);
  EXPECT_EQ(source.num_classes(), 3);
  EXPECT_EQ(source.native_side(), 0);
  EXPECT_EQ(source.default_crop_ratio(), 0.875f);
  EXPECT_EQ(source.original_size(0).height, 60);
  EXPECT_EQ(source.original_size(0).width, 80);
  EXPECT_EQ(source.original_size(1).height, 90);  // PNG
  EXPECT_EQ(source.original_size(1).width, 50);
  EXPECT_EQ(source.sample_name(2), f.index.names[2]);
  EXPECT_NE(source.name().find(f.index.source), std::string::npos);
  // Without an output size a loader cannot batch images of several sizes.
  EXPECT_THROW(BatchLoader(source, LoaderOptions{}), Error);
  std::filesystem::remove(f.index.files[2]);
  const std::string message = test::error_message([&] { source.original_size(2); });
  EXPECT_NE(message.find(f.index.names[2]), std::string::npos) << message;
  EXPECT_THROW(StreamImageSource(SampleIndex{}), Error);
}

TEST(StreamImageSource, EvalBatchesMatchTheSameImagesDecodedInMemory) {
  // Decoded at a DCT scale and resampled vs decoded whole and area-resized: close, not equal.
  StreamFixture f(std::vector<std::pair<int, int>>(10, {150, 200}),
                  {false, false, false, true});  // one PNG among the JPEGs
  const StreamImageSource stream(f.index);
  const Dataset memory = f.dataset();
  auto o = stream_options(4, 2, 48);
  o.augment = false;
  o.crop_ratio = 0.875f;  // shorter side 150 -> 54, center 48
  BatchLoader streamed(stream, o), held(memory, o);
  const auto a = collect(streamed, 0), b = collect(held, 0);
  ASSERT_EQ(a.size(), b.size());
  double total = 0, worst = 0;
  int64_t count = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices);
    EXPECT_EQ(a[i].labels, b[i].labels);
    ASSERT_EQ(a[i].images.size(), b[i].images.size());
    for (size_t p = 0; p < a[i].images.size(); ++p) {
      const double levels = std::abs(a[i].images[p] - b[i].images[p]) * 0.25 * 255;  // std 0.25
      total += levels;
      worst = std::max(worst, levels);
      ++count;
    }
  }
  EXPECT_LT(total / static_cast<double>(count), 1.5) << "mean difference in levels";
  EXPECT_LT(worst, 16.0) << "largest difference in levels";
  // The default crop ratio of a streamed source is 0.875 (of one in memory: 1).
  o.crop_ratio = 0;
  BatchLoader defaulted(stream, o);
  expect_same(a, collect(defaulted, 0));
}

TEST(StreamImageSource, TheStreamIsTheSameForAnyWorkerCountAndShardsConcatenate) {
  StreamFixture f({{120, 90}, {64, 64}, {75, 140}, {50, 70}, {200, 130}, {90, 90}, {40, 100},
                   {110, 80}, {66, 99}},
                  {false, true});
  const StreamImageSource source(f.index);
  for (bool finetune : {false, true}) {
    auto o = stream_options(4, 1, 32);
    if (finetune) o.finetune = FinetuneAugmentOptions{};
    BatchLoader one(source, o);
    const auto reference = collect(one, 3);
    for (int workers : {0, 3}) {
      o.workers = workers;
      BatchLoader other(source, o);
      expect_same(reference, collect(other, 3));
    }
    o.workers = 2;
    o.shards = 2;
    std::vector<std::vector<Batch>> slices;
    for (int shard = 0; shard < 2; ++shard) {
      o.shard = shard;
      BatchLoader part(source, o);
      slices.push_back(collect(part, 3));
    }
    for (size_t b = 0; b < reference.size(); ++b) {
      Batch joined;
      for (const auto& slice : slices) {
        joined.indices.insert(joined.indices.end(), slice[b].indices.begin(),
                              slice[b].indices.end());
        joined.labels.insert(joined.labels.end(), slice[b].labels.begin(), slice[b].labels.end());
        joined.images.insert(joined.images.end(), slice[b].images.begin(), slice[b].images.end());
      }
      expect_same({reference[b]}, {joined});
    }
  }
}

TEST(StreamImageSource, CropsAreDrawnOnEachOriginalImage) {
  const std::vector<std::pair<int, int>> sizes{{240, 180}, {48, 64}, {90, 90}, {120, 40}};
  StreamFixture f(sizes, {false, false, true});
  const StreamImageSource source(f.index);
  auto o = stream_options(4, 2, 24);
  o.augment_options.scale_min = 0.6f;  // crops of the 240x180 image exceed every other image
  BatchLoader loader(source, o);
  std::vector<uint8_t> bytes, pixels(24 * 24 * 3);
  std::vector<float> expected(static_cast<size_t>(transformed_floats(24)));
  int larger_than_the_others = 0;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    for (const Batch& b : collect(loader, epoch)) {
      for (int64_t k = 0; k < b.size; ++k) {
        const auto [height, width] = sizes[static_cast<size_t>(b.indices[k])];
        const CropBox& box = b.crops[k];
        ASSERT_TRUE(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
                    box.top + box.height <= height && box.left + box.width <= width)
            << "image " << b.indices[k];
        larger_than_the_others += box.height > 120 || box.width > 90;
        // The batch holds exactly that crop, decoded from the file.
        bytes = read_file_bytes(f.index.files[static_cast<size_t>(b.indices[k])]);
        decode_crop({bytes.data(), bytes.size(), "x"}, box, 24, pixels.data());
        normalize_image({pixels.data(), 24, 24, 3}, o.stats, expected.data());
        ASSERT_TRUE(std::equal(expected.begin(), expected.end(),
                               b.images.begin() + k * transformed_floats(24)));
      }
    }
  }
  EXPECT_GT(larger_than_the_others, 0);
}

TEST(StreamImageSource, ATruncatedJpegIsSkippedCountedAndNamed) {
  StreamFixture f(std::vector<std::pair<int, int>>(19, {48, 64}));
  const std::string truncated = f.index.source + "/truncated.jpg";
  const auto whole = read_file_bytes(f.index.files[0]);
  test::write_bytes(truncated,
                    std::vector<uint8_t>(whole.begin(), whole.begin() + whole.size() / 2));
  f.add(truncated, 2);  // sample 19 of 20
  const StreamImageSource source(f.index);
  for (bool augment : {true, false}) {
    auto o = stream_options(5, 1, 16);
    o.augment = augment;
    o.max_bad_fraction = 0.1;
    BatchLoader one(source, o);
    const auto reference = collect(one, 0);
    ASSERT_EQ(one.bad_samples().size(), 1u);
    const BadSample& bad = one.bad_samples()[0];
    EXPECT_EQ(bad.index, 19);
    EXPECT_EQ(bad.name, truncated);
    EXPECT_NE(bad.message.find(truncated), std::string::npos) << bad.message;
    std::set<int64_t> seen;
    for (const Batch& b : reference) {
      EXPECT_EQ(b.size, 5);
      seen.insert(b.indices.begin(), b.indices.end());
    }
    EXPECT_EQ(seen.count(19), 0u);
    EXPECT_EQ(seen.size(), 19u);  // every good image, one of them twice
    o.workers = 3;
    BatchLoader three(source, o);
    expect_same(reference, collect(three, 0));
    // The default max_bad_fraction (0.001 of 20 samples) allows none: an Error naming the file.
    o.max_bad_fraction = 0.001;
    BatchLoader strict(source, o);
    const std::string message = test::error_message([&] { collect(strict, 0); });
    EXPECT_NE(message.find("1 bad samples in epoch 0"), std::string::npos) << message;
    EXPECT_NE(message.find(truncated), std::string::npos) << message;
  }
  // Channel statistics leave it out.
  const ChannelStats with_bad = estimate_channel_stats(source, 100, 0, 32);
  f.index.files.pop_back();
  f.index.samples.pop_back();
  f.index.names.pop_back();
  const ChannelStats without = estimate_channel_stats(StreamImageSource(f.index), 100, 0, 32);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(with_bad.mean[c], without.mean[c]);
}

TEST(StreamImageSource, ChannelStatsFromASampleAreCloseToTheImagesInMemory) {
  StreamFixture f(std::vector<std::pair<int, int>>(12, {64, 64}));
  const ChannelStats streamed = estimate_channel_stats(StreamImageSource(f.index), 1000, 0, 64);
  const ChannelStats memory = compute_channel_stats(f.dataset());
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(streamed.mean[c], memory.mean[c], 1e-6);  // 64 -> 64: the same decoded pixels
    EXPECT_NEAR(streamed.std[c], memory.std[c], 1e-6);
  }
  // Default side of a streamed source: 224, any image size.
  const ChannelStats upscaled = estimate_channel_stats(StreamImageSource(f.index));
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(upscaled.mean[c], memory.mean[c], 0.005);
    EXPECT_NEAR(upscaled.std[c], memory.std[c], 0.01);
  }
}

TEST(StreamImageSource, AFolderItsTarAndItsShardsStreamTheSameBatches) {
  const std::string root = test::make_temp_dir();
  for (int k = 0; k < 9; ++k) {
    const std::string dir = root + "/train/" + (k % 2 ? "b" : "a");
    std::filesystem::create_directories(dir);
    cv::Mat bgr;
    cv::cvtColor(smooth_rgb(40 + 7 * k, 90 - 5 * k, k + 3), bgr, cv::COLOR_RGB2BGR);
    ASSERT_TRUE(cv::imwrite(dir + "/img" + std::to_string(k) + ".jpg", bgr));
  }
  const std::string bad = root + "/train/a/img4.jpg";  // truncated
  const auto whole = read_file_bytes(bad);
  test::write_bytes(bad, std::vector<uint8_t>(whole.begin(), whole.begin() + whole.size() / 3));
  const std::string tar = test::make_temp_dir() + "/data.tar";
  test::write_tar(tar, root, "", false);
  const std::string shards = test::make_temp_dir();
  DatasetOptions dataset_options;
  dataset_options.cache_dir = "none";
  shard_source(root, "train", shards, 4, dataset_options);
  IndexOptions index_options;
  index_options.cache_dir = "none";
  std::vector<std::vector<Batch>> streams;
  for (const std::string& spec : {root, tar, shards}) {
    const StreamImageSource source(index_samples(spec, "train", index_options));
    ASSERT_EQ(source.size(), 9) << spec;
    auto o = stream_options(3, 2, 24);
    o.max_bad_fraction = 0.2;
    for (bool augment : {true, false}) {
      o.augment = augment;
      BatchLoader loader(source, o);
      streams.push_back(collect(loader, 1));
      ASSERT_EQ(loader.bad_samples().size(), 1u) << spec;
      // Sample 2 (class a: img0, img2, img4, ...): a path, "data.tar:...", "shard.tar:KEY".
      const BadSample& b = loader.bad_samples()[0];
      EXPECT_EQ(b.index, 2);
      EXPECT_EQ(b.name, source.sample_name(2));
      EXPECT_TRUE(b.name.find("img4.jpg") != std::string::npos ||
                  b.name.find(".tar:000000002") != std::string::npos)
          << b.name;
    }
  }
  for (size_t s = 2; s < streams.size(); ++s) expect_same(streams[s % 2], streams[s]);
}

}  // namespace
}  // namespace clustermim
