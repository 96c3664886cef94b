/*
 * Tests of the CIFAR-10 binary reader on a hand-written fixture (2 records per batch file):
 * planar R/G/B -> HWC conversion checked pixel by pixel, batch order, class names from
 * batches.meta.txt or the defaults, truncated files and bad labels rejected with the file named,
 * a .tar.gz of cifar-10-batches-bin/ reading identically, and compute_channel_stats.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "data/cifar_reader.h"
#include "data/dataset.h"
#include "data_test_util.h"

namespace clustermim {
namespace {

using test::error_message;

constexpr int kPlane = 32 * 32;

/// Planar pixel byte of record `record` (global index), channel `c`, position `p`.
uint8_t planar_value(int record, int c, int p) {
  return static_cast<uint8_t>(record * 31 + c * 85 + p);
}

/// Two records; global indices first, first + 1; labels (first % 10), ((first + 1) % 10).
std::vector<uint8_t> batch_bytes(int first) {
  std::vector<uint8_t> out;
  for (int r = first; r < first + 2; ++r) {
    out.push_back(static_cast<uint8_t>(r % 10));
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < kPlane; ++p) out.push_back(planar_value(r, c, p));
    }
  }
  return out;
}

DatasetOptions no_cache() {
  DatasetOptions o;
  o.cache_dir = "none";
  return o;
}

class CifarReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::make_temp_dir() + "/cifar-small";
    batches_ = root_ + "/cifar-10-batches-bin";
    for (int i = 1; i <= 5; ++i) {
      test::write_bytes(batches_ + "/data_batch_" + std::to_string(i) + ".bin",
                        batch_bytes(2 * (i - 1)));
    }
    test::write_bytes(batches_ + "/test_batch.bin", batch_bytes(100));
  }
  std::string root_, batches_;
};

TEST_F(CifarReaderTest, PlanarRecordsBecomeHwc) {
  const Dataset d = load_dataset(root_, "train", no_cache());
  EXPECT_EQ(d.name, "cifar-small");
  ASSERT_EQ(d.size(), 10);
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.width, 32);
  EXPECT_EQ(d.channels, 3);
  for (int r = 0; r < 10; ++r) EXPECT_EQ(d.labels[r], r % 10);
  const int y = 5, x = 7, p = y * 32 + x;
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(d.image(3)[p * 3 + c], planar_value(3, c, p)) << "channel " << c;
    EXPECT_EQ(d.image(9)[p * 3 + c], planar_value(9, c, p)) << "channel " << c;
  }
  EXPECT_EQ(d.classes.front(), "airplane");
  EXPECT_EQ(d.classes.back(), "truck");
}

TEST_F(CifarReaderTest, TestSplitAndBatchFolderItself) {
  const Dataset d = load_dataset(batches_, "test", no_cache());
  ASSERT_EQ(d.size(), 2);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(d.image(1)[0], planar_value(101, 0, 0));
}

TEST_F(CifarReaderTest, ClassNamesFromMetaFile) {
  std::string names;
  for (int i = 0; i < 10; ++i) names += "class" + std::to_string(i) + "\n";
  write_file_atomic(batches_ + "/batches.meta.txt", names + "\n\n");
  const Dataset d = load_dataset(root_, "test", no_cache());
  ASSERT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.classes[3], "class3");
}

TEST_F(CifarReaderTest, TruncatedBatchNamesTheFile) {
  std::vector<uint8_t> bytes = batch_bytes(4);
  bytes.pop_back();
  test::write_bytes(batches_ + "/data_batch_3.bin", bytes);
  const std::string msg = error_message([&] { load_dataset(root_, "train", no_cache()); });
  EXPECT_NE(msg.find("data_batch_3.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;
}

TEST_F(CifarReaderTest, LabelAboveNineNamesTheFile) {
  std::vector<uint8_t> bytes = batch_bytes(100);
  bytes[kCifarRecordBytes] = 10;
  test::write_bytes(batches_ + "/test_batch.bin", bytes);
  const std::string msg = error_message([&] { load_dataset(root_, "test", no_cache()); });
  EXPECT_NE(msg.find("test_batch.bin: label 10 in record 1"), std::string::npos) << msg;
}

TEST_F(CifarReaderTest, MissingBatchNamesTheFile) {
  std::filesystem::remove(batches_ + "/data_batch_5.bin");
  const std::string msg = error_message([&] { load_dataset(root_, "train", no_cache()); });
  EXPECT_NE(msg.find("data_batch_5.bin"), std::string::npos) << msg;
}

TEST_F(CifarReaderTest, TarGzArchiveReadsLikeTheFolder) {
  const std::string archive = test::make_temp_dir() + "/cifar-10-binary.tar.gz";
  test::write_tar(archive, root_, "", true);
  DatasetOptions options;
  options.cache_dir = test::make_temp_dir();
  const Dataset a = load_dataset(archive, "train", options);
  const Dataset f = load_dataset(root_, "train", no_cache());
  EXPECT_EQ(a.name, "cifar-10-binary");
  EXPECT_EQ(a.pixels, f.pixels);
  EXPECT_EQ(a.labels, f.labels);
  EXPECT_EQ(a.classes, f.classes);
}

TEST_F(CifarReaderTest, ChannelStatsMatchDirectComputation) {
  const Dataset d = load_dataset(root_, "train", no_cache());
  const ChannelStats stats = compute_channel_stats(d);
  for (int c = 0; c < 3; ++c) {
    double sum = 0, sum_sq = 0;
    const int64_t n = d.size() * d.height * d.width;
    for (int64_t i = 0; i < n; ++i) {
      const double v = d.pixels[static_cast<size_t>(i * 3 + c)] / 255.0;
      sum += v;
      sum_sq += v * v;
    }
    const double mean = sum / n;
    EXPECT_NEAR(stats.mean[c], mean, 1e-6);
    EXPECT_NEAR(stats.std[c], std::sqrt(sum_sq / n - mean * mean), 1e-5);
  }
}

TEST(CifarReader, GrayscaleStatsRepeatChannelZero) {
  Dataset d;
  d.height = d.width = 1;
  d.channels = 1;
  d.pixels = {0, 255};
  d.labels = {0, 0};
  d.classes = {"x"};
  const ChannelStats stats = compute_channel_stats(d);
  for (int c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(stats.mean[c], 0.5f);
    EXPECT_FLOAT_EQ(stats.std[c], 0.5f);
  }
}

}  // namespace
}  // namespace clustermim
