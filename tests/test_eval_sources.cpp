/*
 * Frozen-encoder evaluation over any ImageSource (issue 17): features streamed from a folder of
 * JPEGs equal those of the same eval crops held in memory, a sample that fails to decode is left
 * out of the features, float16 features are stored and cached as float16, and k-NN / the linear
 * probe refuse an unlabeled source with a one-line error before extracting anything.
 */
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "data/image_split.h"
#include "data/sample_index.h"
#include "data/stream_image_source.h"
#include "eval/encoder_eval.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::TempDir;

VitConfig tiny_vit() {
  VitConfig c;
  c.image_size = 16;
  c.patch_size = 4;
  c.dim = 32;
  c.depth = 1;
  c.heads = 2;
  return c;
}

/// Writes `n` JPEGs of varying sizes (smooth colour ramps, class k % 2) below `root`: as
/// root/train/<class>/img<k>.jpg when labeled, else root/img<k>.jpg.
void write_jpegs(const std::string& root, int n, bool labeled) {
  for (int k = 0; k < n; ++k) {
    const std::string dir = labeled ? root + "/train/" + (k % 2 ? "b" : "a") : root;
    std::filesystem::create_directories(dir);
    cv::Mat bgr(24 + 5 * k, 40 - 3 * k, CV_8UC3);
    for (int y = 0; y < bgr.rows; ++y) {
      for (int x = 0; x < bgr.cols; ++x) {
        bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(4 * x + 20 * k),
                                            static_cast<uint8_t>(6 * y + 90 * (k % 2)),
                                            static_cast<uint8_t>(3 * (x + y) + 11 * k));
      }
    }
    ASSERT_TRUE(cv::imwrite(dir + "/img" + std::to_string(k) + ".jpg", bgr,
                            {cv::IMWRITE_JPEG_QUALITY, 90}));
  }
}

SampleIndex index_of(const std::string& root) {
  IndexOptions o;
  o.cache_dir = "none";
  return index_samples(root, "train", o);
}

FeatureOptions exact_options() {
  FeatureOptions o;
  o.bf16 = false;
  o.batch_size = 3;
  o.workers = 2;
  return o;
}

TEST(EvalSources, StreamedFeaturesEqualTheSameEvalCropsInMemory) {
  TempDir dir;
  write_jpegs(dir.path(), 7, true);
  const StreamImageSource stream(index_of(dir.path()));
  const Dataset crops = materialize_split(stream, 16, 1);
  ASSERT_EQ(crops.size(), 7);
  torch::manual_seed(0);
  VisionTransformer encoder(tiny_vit());
  const ChannelStats stats = compute_channel_stats(crops);
  FeatureOptions o = exact_options();
  o.crop_ratio = 1.f;  // the crop materialize_split holds; the streamed default is 0.875
  const PooledFeatures streamed = encoder_features(encoder, stream, "train", stats, o,
                                                   torch::kCPU, "");
  const PooledFeatures in_memory = encoder_features(encoder, crops, stats, exact_options(),
                                                    torch::kCPU, "");
  ASSERT_EQ(streamed.cls.features.sizes(), torch::IntArrayRef({7, 32}));
  EXPECT_TRUE(torch::allclose(streamed.cls.features, in_memory.cls.features, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(streamed.mean.features, in_memory.mean.features, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(streamed.cls.labels, in_memory.cls.labels));

  o.crop_ratio = 0.f;  // the source's default crop is another crop, and another cache key
  const PooledFeatures centred = encoder_features(encoder, stream, "train", stats, o,
                                                  torch::kCPU, "");
  EXPECT_FALSE(torch::allclose(centred.cls.features, in_memory.cls.features, 1e-3, 1e-3));
  FeatureOptions whole = o;
  whole.crop_ratio = 1.f;
  EXPECT_NE(feature_provenance(encoder, stream, "train", stats, o).to_json().dump(),
            feature_provenance(encoder, stream, "train", stats, whole).to_json().dump());
}

TEST(EvalSources, ASampleThatFailsToDecodeIsLeftOut) {
  TempDir dir;
  write_jpegs(dir.path(), 7, true);
  const std::string bad = dir.path() + "/train/b/img3.jpg";
  std::filesystem::resize_file(bad, std::filesystem::file_size(bad) / 3);
  const StreamImageSource stream(index_of(dir.path()));
  torch::manual_seed(0);
  VisionTransformer encoder(tiny_vit());
  FeatureOptions o = exact_options();
  o.max_bad_fraction = 0.2;
  const PooledFeatures f = encoder_features(encoder, stream, "train", ChannelStats{}, o,
                                            torch::kCPU, "");
  ASSERT_EQ(f.cls.size(), 6) << "the truncated image has no row";
  int64_t bad_index = -1;
  for (int64_t i = 0; i < stream.size(); ++i) {
    if (stream.sample_name(i).find("img3.jpg") != std::string::npos) bad_index = i;
  }
  ASSERT_GE(bad_index, 0);
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < stream.size(); ++i) {
    if (i != bad_index) expected.push_back(stream.label(i));
  }
  EXPECT_TRUE(torch::equal(f.cls.labels, torch::tensor(expected, torch::kLong)));
  o.max_bad_fraction = 0.1;
  EXPECT_NE(testing::error_of([&] {
              encoder_features(encoder, stream, "train", ChannelStats{}, o, torch::kCPU, "");
            }).find("img3.jpg"),
            std::string::npos);
}

TEST(EvalSources, Float16FeaturesAreStoredAndCachedAsFloat16) {
  TempDir dir;
  torch::manual_seed(0);
  VisionTransformer encoder(tiny_vit());
  const Dataset data = testing::make_color_dataset(6, 16, 2, 0);
  const ChannelStats stats = compute_channel_stats(data);
  FeatureOptions o = exact_options();
  const PooledFeatures full = encoder_features(encoder, data, stats, o, torch::kCPU, dir.file("f32"));
  o.feature_dtype = parse_feature_dtype("float16");
  const std::string cache = dir.file("cache");
  const PooledFeatures half = encoder_features(encoder, data, stats, o, torch::kCPU, cache);
  EXPECT_EQ(half.cls.features.scalar_type(), torch::kHalf);
  EXPECT_EQ(half.mean.features.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::allclose(half.cls.features.to(torch::kFloat32), full.cls.features, 1e-2, 1e-3));
  nlohmann::json meta;
  const PooledFeatures read = load_features(cache + "/features-train.cmft", &meta);
  EXPECT_EQ(read.cls.features.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(read.cls.features, half.cls.features));
  EXPECT_EQ(meta["provenance"]["feature_dtype"], "float16") << meta.dump();
  // Two [6, 32] tensors of 2 bytes per value instead of 4: 768 bytes fewer (up to alignment).
  EXPECT_GE(std::filesystem::file_size(dir.file("f32") + "/features-train.cmft"),
            std::filesystem::file_size(cache + "/features-train.cmft") + 640);
  EXPECT_NE(testing::error_of([] { parse_feature_dtype("bfloat16"); }).find("float16"),
            std::string::npos);
}

TEST(EvalSources, KnnAndTheProbeNeedLabels) {
  TempDir dir;
  write_jpegs(dir.path() + "/photos", 4, false);
  const StreamImageSource unlabeled(index_of(dir.path() + "/photos"));
  ASSERT_EQ(unlabeled.num_classes(), 0);
  const Dataset labeled = testing::make_color_dataset(4, 16, 2, 0);
  const MemoryImageSource memory(labeled);
  torch::manual_seed(0);
  VisionTransformer encoder(tiny_vit());
  EncoderEvalOptions o;
  o.features = exact_options();
  const std::string expected =
      unlabeled.name() + ": k-NN and the linear probe need labels; this source is unlabeled";
  EXPECT_EQ(testing::error_of([&] {
              evaluate_encoder(encoder, unlabeled, memory, ChannelStats{}, o, torch::kCPU);
            }),
            expected);
  EXPECT_EQ(testing::error_of([&] {
              evaluate_encoder(encoder, memory, unlabeled, ChannelStats{}, o, torch::kCPU);
            }),
            expected);
  // Features alone need no labels: rows of -1.
  const PooledFeatures f = encoder_features(encoder, unlabeled, "train", ChannelStats{},
                                            exact_options(), torch::kCPU, dir.file("cache"));
  EXPECT_TRUE(torch::equal(f.cls.labels, torch::full({4}, -1, torch::kLong)));
  EXPECT_EQ(load_features(dir.file("cache") + "/features-train.cmft").cls.size(), 4);
}

}  // namespace
}  // namespace clustermim
