/*
 * Tests of the memory / stream switch (data/image_split.h): the storage names, auto's budget rule,
 * a split read from shards into memory holding exactly the pixels its folder streams, unlabeled
 * folders in memory, and a corrupt image left out and counted when a split is decoded into memory,
 * or counted once however often a stream fails on it.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "base/data_test_util.h"
#include "core/error.h"
#include "data/image_split.h"
#include "data/webdataset.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::make_temp_dir;
using test::write_bytes;

void write_image(const std::string& path, int value) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<uint8_t> bytes;
  cv::Mat image(9 + value % 4, 12, CV_8UC3);
  cv::randu(image, cv::Scalar::all(value), cv::Scalar::all(255));
  ASSERT_TRUE(cv::imencode(".jpg", image, bytes));
  write_bytes(path, bytes);
}

/// root/train/{cat,dog}/... (5 images of varying sizes), root/test/cat/t.jpg.
std::string labeled_folder() {
  const std::string root = make_temp_dir();
  for (int i = 0; i < 5; ++i) write_image(root + "/train/" + (i % 2 ? "cat" : "dog") + "/" +
                                          std::to_string(i) + ".jpg", 10 * i);
  write_image(root + "/test/cat/t.jpg", 7);
  return root;
}

SplitOptions options(Storage storage, int side, double budget_gb = 4) {
  SplitOptions o;
  o.storage = storage;
  o.memory_budget_gb = budget_gb;
  o.dataset.image_size = side;
  o.dataset.cache_dir = "none";
  o.dataset.threads = 2;
  return o;
}

TEST(ImageSplit, StorageNamesRoundTripAndOthersNameTheKey) {
  for (const Storage s : {Storage::kAuto, Storage::kMemory, Storage::kStream}) {
    EXPECT_EQ(parse_storage(storage_name(s)), s);
  }
  EXPECT_EQ(error_message([] { parse_storage("disk", "--storage"); }),
            "--storage: expected auto, memory or stream, got 'disk'");
}

TEST(ImageSplit, AutoHoldsInMemoryWhatFitsTheBudgetAndStreamsTheRest) {
  const std::string root = labeled_folder();
  const ImageSplit small = open_image_split(root, "train", options(Storage::kAuto, 8));
  ASSERT_FALSE(small.streamed());
  EXPECT_EQ(small.dataset->size(), 5);
  EXPECT_EQ(small.dataset->height, 8);
  // 5 images x 8 x 8 x 3 bytes = 960 bytes: over a budget of 500 bytes.
  const ImageSplit big = open_image_split(root, "train", options(Storage::kAuto, 8, 500e-9));
  EXPECT_TRUE(big.streamed());
  EXPECT_EQ(big.source->size(), 5);
  EXPECT_TRUE(big.labeled());
  // Varying sizes and no image size: only a stream can hold them.
  EXPECT_TRUE(open_image_split(root, "train", options(Storage::kAuto, 0)).streamed());
}

TEST(ImageSplit, ShardsInMemoryHoldThePixelsTheirFolderStreams) {
  const std::string root = labeled_folder();
  const std::string shards = make_temp_dir();
  DatasetOptions dataset_options;
  dataset_options.cache_dir = "none";
  shard_source(root, "train", shards, 2, dataset_options);
  const ImageSplit stream = open_image_split(root, "train", options(Storage::kStream, 8));
  const ImageSplit memory = open_image_split(shards, "train", options(Storage::kMemory, 8));
  ASSERT_TRUE(stream.streamed());
  ASSERT_FALSE(memory.streamed());
  ASSERT_EQ(memory.dataset->size(), stream.source->size());
  EXPECT_EQ(memory.dataset->classes, (std::vector<std::string>{"cat", "dog"}));
  std::vector<uint8_t> crop(8 * 8 * 3);
  for (int64_t i = 0; i < stream.source->size(); ++i) {
    stream.source->eval(i, 8, 1.f, crop.data());
    EXPECT_EQ(std::vector<uint8_t>(memory.dataset->image(i), memory.dataset->image(i) + crop.size()),
              crop) << "sample " << i;
    EXPECT_EQ(memory.source->label(i), stream.source->label(i));
  }
  EXPECT_NE(memory.source->identity(), stream.source->identity());
}

TEST(ImageSplit, UnlabeledFolderInMemoryHasNoClassesAndACorruptImageIsCounted) {
  const std::string root = make_temp_dir();
  write_image(root + "/a/one.jpg", 1);
  write_image(root + "/b/two.jpg", 2);
  write_bytes(root + "/b/three.jpg", {0xff, 0xd8, 0xff, 0xe0, 0, 16});
  const ImageSplit split = open_image_split(root, "train", options(Storage::kMemory, 6));
  ASSERT_FALSE(split.streamed());
  EXPECT_FALSE(split.labeled());
  EXPECT_EQ(split.dataset->size(), 2);
  EXPECT_EQ(split.dataset->skipped, 1);
  EXPECT_EQ(split.skipped(), 1);
  EXPECT_EQ(split.source->label(0), -1);
  EXPECT_NE(error_message([&] { open_image_split(root, "test", options(Storage::kMemory, 6)); })
                .find("only the split train"),
            std::string::npos);
}

TEST(ImageSplit, AStreamCountsEachSampleThatFailedOnce) {
  const std::string root = make_temp_dir();
  write_image(root + "/a/one.jpg", 1);
  write_bytes(root + "/a/two.jpg", {0xff, 0xd8, 0xff, 0xe0, 0, 16});
  write_bytes(root + "/b/three.png", {0x89, 'P', 'N', 'G'});
  const ImageSplit split = open_image_split(root, "train", options(Storage::kStream, 6));
  ASSERT_TRUE(split.streamed());
  EXPECT_EQ(split.skipped(), 0) << "nothing has been read yet";
  std::vector<uint8_t> pixels(6 * 6 * 3);
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t i = 0; i < split.source->size(); ++i) {
      try {
        split.source->eval(i, 6, 1.f, pixels.data());
      } catch (const Error&) {
      }
    }
  }
  EXPECT_EQ(split.skipped(), 2) << "two bad files, each counted once over two passes";
}

}  // namespace
}  // namespace clustermim
