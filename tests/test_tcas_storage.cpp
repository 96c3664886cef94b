/*
 * Tokenizer fitting and TCAS counting over any ImageSource (issue 17): the same labeled JPEGs
 * read as a folder, a tar archive and WebDataset shards, each in memory and streamed, give
 * identical pixels, tokens and counts at crop ratio 1; fitting decodes only the images
 * max_patches needs, once each, at the source's default crop ratio; a sample that fails to decode
 * is left out of the tokens; unlabeled sources are one-line errors for TCAS, the label tokenizer
 * and the "auto" teacher block rule, while tokenizing them gives labels -1.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "base/data_test_util.h"
#include "data/image_split.h"
#include "data/webdataset.h"
#include "metrics/tcas.h"
#include "support/fixtures.h"
#include "tokenizers/teacher_rounds.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::make_temp_dir;

constexpr int kSide = 8;

/// A JPEG of `height` x `width` at `path`: class colour plus noise, so tokens follow the class.
void write_jpeg(const std::string& path, int height, int width, const cv::Scalar& colour,
                int seed) {
  fs::create_directories(fs::path(path).parent_path());
  cv::Mat image(height, width, CV_8UC3, colour);
  cv::Mat noise(height, width, CV_8UC3);
  cv::theRNG().state = static_cast<uint64_t>(seed) + 1;
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(60));
  image += noise;
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, 90}));
  test::write_bytes(path, bytes);
}

/// root/train/{blue,green,red}/ with 12 JPEGs of varying sizes: shorter side `shorter` plus
/// `shorter_step` * (i % 6), the longer side 0 to 6 pixels more (even, so that every center crop
/// starts on a whole pixel).
std::string labeled_jpeg_folder(int shorter, int shorter_step) {
  const std::string root = make_temp_dir();
  const std::vector<std::pair<std::string, cv::Scalar>> classes = {
      {"blue", {180, 40, 40}}, {"green", {40, 180, 40}}, {"red", {40, 40, 180}}};
  for (int i = 0; i < 12; ++i) {
    const auto& [name, colour] = classes[static_cast<size_t>(i % 3)];
    const int a = shorter + shorter_step * (i % 6), b = a + 2 * (i % 4);
    write_jpeg(root + "/train/" + name + "/" + std::to_string(i) + ".jpg", i % 2 ? a : b,
               i % 2 ? b : a, colour, i);
  }
  return root;
}

/// The counts n[k][c] as one [vocab, C] row-major vector.
std::vector<int64_t> table(const TokenClassCounts& counts) {
  std::vector<int64_t> t;
  for (int64_t k = 0; k < counts.vocab(); ++k) {
    for (int64_t c = 0; c < counts.num_classes(); ++c) t.push_back(counts.count(k, c));
  }
  return t;
}

SplitOptions split_options(Storage storage) {
  SplitOptions o;
  o.storage = storage;
  o.dataset.image_size = kSide;
  o.dataset.cache_dir = "none";
  o.dataset.threads = 1;
  return o;
}

PixelKMeansOptions small_fit() {
  PixelKMeansOptions o;
  o.vocab = 6;
  o.patch_size = 4;
  o.image_size = kSide;
  o.max_patches = 1000;
  o.workers = 1;
  return o;
}

/// The split at `folder` read six ways: as a folder, a tar archive and WebDataset shards, each in
/// memory at side kSide and streamed, by "<container> <storage>".
std::map<std::string, ImageSplit> six_ways(const std::string& folder) {
  const std::string archive = make_temp_dir() + "/photos.tar";
  test::write_tar(archive, folder, "", false);
  const std::string shards = make_temp_dir();
  DatasetOptions no_cache;
  no_cache.cache_dir = "none";
  shard_source(folder, "train", shards, 5, no_cache);
  std::map<std::string, ImageSplit> splits;
  for (const auto& [what, spec] : std::map<std::string, std::string>{
           {"folder", folder}, {"archive", archive}, {"shards", shards}}) {
    splits[what + " memory"] = open_image_split(spec, "train", split_options(Storage::kMemory));
    splits[what + " stream"] = open_image_split(spec, "train", split_options(Storage::kStream));
    EXPECT_FALSE(splits[what + " memory"].streamed()) << what;
    EXPECT_TRUE(splits[what + " stream"].streamed()) << what;
  }
  return splits;
}

/// Fits one pixel K-means tokenizer on `reference` and checks that every split of `names` gives
/// the reference's evaluation crops at crop ratio 1, its tokens and its counts.
void expect_identical_tcas(const std::map<std::string, ImageSplit>& splits,
                           const std::vector<std::string>& names) {
  const ImageSource& reference = *splits.at("folder stream").source;
  ASSERT_EQ(reference.size(), 12);
  ASSERT_EQ(reference.num_classes(), 3);
  const ChannelStats stats = estimate_channel_stats(reference);
  const auto tokenizer = fit_pixel_kmeans(reference, stats, small_fit(), torch::kCPU);
  const TokenLabelSet want = tokenize_split(*tokenizer, reference, 1, torch::kCPU, 1.f);
  const TokenClassCounts want_counts =
      count_token_classes(*tokenizer, reference, 1, torch::kCPU, 1.f);
  ASSERT_EQ(want.images, 12);
  EXPECT_LT(compute_tcas(want_counts).tcas, 0.5);  // the classes' colours separate the tokens

  std::vector<uint8_t> want_pixels(kSide * kSide * 3), pixels(want_pixels.size());
  for (const std::string& what : names) {
    const ImageSource& source = *splits.at(what).source;
    ASSERT_EQ(source.size(), reference.size()) << what;
    for (int64_t i = 0; i < source.size(); ++i) {
      reference.eval(i, kSide, 1.f, want_pixels.data());
      source.eval(i, kSide, 1.f, pixels.data());
      EXPECT_EQ(pixels, want_pixels) << what << ", sample " << i;
    }
    const TokenLabelSet got = tokenize_split(*tokenizer, source, 2, torch::kCPU, 1.f);
    EXPECT_EQ(got.tokens, want.tokens) << what;
    EXPECT_EQ(got.labels, want.labels) << what;
    EXPECT_EQ(table(count_token_classes(*tokenizer, source, 2, torch::kCPU, 1.f)),
              table(want_counts))
        << what;
  }
}

TEST(TcasStorage, FolderArchiveAndShardsInMemoryAndStreamedGiveIdenticalTokensAndCounts) {
  // Shorter side = the tokenizer's side: the evaluation crop is a center crop, no resize.
  const auto splits = six_ways(labeled_jpeg_folder(kSide, 0));
  expect_identical_tcas(splits, {"folder memory", "folder stream", "archive memory",
                                 "archive stream", "shards memory", "shards stream"});
}

TEST(TcasStorage, ResizedImagesGiveIdenticalTokensAndCountsToo) {
  // Shorter sides 9 to 19: every crop is resized, by the stream's decoder in both storages.
  const auto splits = six_ways(labeled_jpeg_folder(kSide + 1, 2));
  expect_identical_tcas(splits, {"folder memory", "folder stream", "archive memory",
                                 "archive stream", "shards memory", "shards stream"});
}

/// Forwards to a base source; records every eval (index, crop ratio) and fails on sample `bad`.
class ProbeSource : public ImageSource {
 public:
  ProbeSource(const ImageSource& base, int64_t bad = -1) : base_(base), bad_(bad) {}

  int64_t size() const override { return base_.size(); }
  int32_t label(int64_t i) const override { return base_.label(i); }
  int64_t num_classes() const override { return base_.num_classes(); }
  ImageSize original_size(int64_t i) const override { return base_.original_size(i); }
  int native_side() const override { return 0; }  // as a stream: sizes unknown
  float default_crop_ratio() const override { return 0.75f; }
  void crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const override {
    base_.crop(i, box, out_size, out);
  }
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reads.emplace_back(i, crop_ratio);
    }
    CM_REQUIRE(i != bad_, sample_name(i), ": corrupt JPEG data");
    base_.eval(i, out_size, crop_ratio, out);
  }
  std::string name() const override { return "probe"; }
  std::string identity() const override { return "probe/train@key"; }
  std::string sample_name(int64_t i) const override { return "probe[" + std::to_string(i) + "]"; }

  mutable std::vector<std::pair<int64_t, float>> reads;

 private:
  const ImageSource& base_;
  int64_t bad_;
  mutable std::mutex mutex_;
};

TEST(TcasStorage, FittingReadsOnlyTheImagesMaxPatchesNeedsAtTheDefaultCropRatio) {
  const Dataset d = testing::make_color_dataset(200, 8, 2);
  const MemoryImageSource memory(d);
  const ProbeSource probe(memory);
  PixelKMeansOptions o = small_fit();
  o.max_patches = 40;  // 4 patches per image, 4 x 40 sampled: 40 images of 200
  const ChannelStats stats = compute_channel_stats(d);
  const auto tokenizer = fit_pixel_kmeans(probe, stats, o, torch::kCPU);
  std::set<int64_t> images;
  for (const auto& [i, crop_ratio] : probe.reads) {
    images.insert(i);
    EXPECT_FLOAT_EQ(crop_ratio, 0.75f);
  }
  EXPECT_EQ(probe.reads.size(), 40u);
  EXPECT_EQ(images.size(), 40u);
  EXPECT_EQ(tokenizer->spec().dataset, "probe/train");
  EXPECT_EQ(tokenizer->spec().image_size, kSide);
  // With sizes varying and no image size, the fit cannot pick a side.
  o.image_size = 0;
  EXPECT_EQ(error_message([&] { fit_pixel_kmeans(probe, stats, o, torch::kCPU); }),
            "probe: images vary in size; give the tokenizer an image size (--image-size)");
}

TEST(TcasStorage, ASampleThatFailsToDecodeIsLeftOutOfTheTokens) {
  // 1001 images: one bad sample stays within the loader's default max_bad_fraction (0.001).
  const Dataset d = testing::make_color_dataset(1001, 8, 2);
  const MemoryImageSource memory(d);
  const ProbeSource probe(memory, /*bad=*/300);
  const auto tokenizer = fit_pixel_kmeans(d, compute_channel_stats(d), small_fit(), torch::kCPU);
  const TokenLabelSet all = tokenize_split(*tokenizer, memory, 1, torch::kCPU);
  const TokenLabelSet got = tokenize_split(*tokenizer, probe, 2, torch::kCPU, 1.f);
  ASSERT_EQ(got.images, 1000);
  const int64_t l = got.patches;
  std::vector<int32_t> want(all.tokens);
  want.erase(want.begin() + 300 * l, want.begin() + 301 * l);
  std::vector<int32_t> want_labels(all.labels);
  want_labels.erase(want_labels.begin() + 300);
  EXPECT_EQ(got.tokens, want);
  EXPECT_EQ(got.labels, want_labels);
  EXPECT_EQ(count_token_classes(*tokenizer, probe, 2, torch::kCPU, 1.f).total(), 1000 * l);
}

TEST(TcasStorage, UnlabeledSourcesAreOneLineErrorsForTcasTheLabelTokenizerAndAutoBlocks) {
  const std::string root = make_temp_dir();
  write_jpeg(root + "/a/one.jpg", 10, 12, {10, 20, 30}, 1);
  write_jpeg(root + "/b/two.jpg", 9, 8, {30, 20, 10}, 2);
  const ImageSplit split = open_image_split(root, "train", split_options(Storage::kStream));
  ASSERT_FALSE(split.labeled());
  const ImageSource& source = *split.source;
  const std::string name = source.name();
  BuildOptions build;
  build.fit = small_fit();
  const ChannelStats stats = estimate_channel_stats(source);
  EXPECT_EQ(error_message([&] {
              build_tokenizer(parse_tokenizer_request("label"), source, stats, build, torch::kCPU);
            }),
            name + ": the label tokenizer needs labels; this source is unlabeled");
  // Fitting needs no labels.
  const auto tokenizer =
      build_tokenizer(parse_tokenizer_request("pixel-kmeans:2"), source, stats, build, torch::kCPU);
  const std::string needs_labels = name + ": TCAS needs labels; this source is unlabeled";
  EXPECT_EQ(error_message([&] { count_token_classes(*tokenizer, source, 1, torch::kCPU); }),
            needs_labels);
  // Tokenizing needs none either (`tokens encode` writes the tokens alone): labels -1, no classes.
  const TokenLabelSet ids = tokenize_split(*tokenizer, source, 1, torch::kCPU);
  EXPECT_EQ(ids.images, source.size());
  EXPECT_EQ(ids.num_classes, 0);
  EXPECT_TRUE(std::all_of(ids.labels.begin(), ids.labels.end(), [](int32_t y) { return y == -1; }));
  EXPECT_EQ(error_message([&] {
              choose_teacher_block("teacher.cmck", std::nullopt, FeatureKMeansOptions{}, source,
                                   stats, torch::kCPU);
            }),
            name + ": the teacher block rule \"auto\" picks the block by TCAS, which needs "
                   "labels; this source is unlabeled (give a block number)");
}

}  // namespace
}  // namespace clustermim
