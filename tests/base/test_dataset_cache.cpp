/*
 * Tests of the decoded-dataset cache and of load_dataset's spec handling: a second load is
 * served from the cache (proved by tampering with the cached pixels), a corrupt cache file is
 * rewritten rather than trusted, a changed source misses, "none" writes nothing, the cache
 * folder follows CLUSTERMIM_CACHE, and bad splits / missing paths / unknown layouts are
 * rejected with the path named.
 */
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/dataset_cache.h"
#include "data_test_util.h"
#include "io/tensor_file.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;
using test::error_message;

std::vector<std::string> cache_files(const std::string& dir) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  return files;
}

class DatasetCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::make_temp_dir() + "/shapes";
    for (int i = 0; i < 3; ++i)
      add_image("train/c" + std::to_string(i % 2) + "/" + std::to_string(i) + ".png", i);
    options_.cache_dir = test::make_temp_dir() + "/cache";
  }
  void add_image(const std::string& rel, int value) {
    std::vector<uint8_t> png;
    ASSERT_TRUE(
        cv::imencode(".png", cv::Mat(6, 6, CV_8UC3, cv::Scalar(value, 2 * value, 3 * value)), png));
    test::write_bytes(root_ + "/" + rel, png);
  }
  std::string root_;
  DatasetOptions options_;
};

TEST_F(DatasetCacheTest, SecondLoadIsServedFromTheCache) {
  const Dataset first = load_dataset(root_, "train", options_);
  const std::vector<std::string> files = cache_files(options_.cache_dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(fs::path(files[0]).filename().string().rfind("shapes-train-native-", 0), 0u)
      << files[0];
  const std::string key = load_tensor_file(files[0], "CMDS").meta.at("key").get<std::string>();

  Dataset tampered = first;
  tampered.pixels[0] = 251;
  save_dataset_cache(files[0], tampered, key);
  const Dataset second = load_dataset(root_, "train", options_);
  EXPECT_EQ(second.pixels[0], 251);  // only the cache could have said that
  EXPECT_EQ(second.labels, first.labels);
  EXPECT_EQ(second.classes, first.classes);
  EXPECT_EQ(second.name, "shapes");
  EXPECT_EQ(second.split, "train");
}

TEST_F(DatasetCacheTest, CorruptCacheFileIsRewritten) {
  const Dataset first = load_dataset(root_, "train", options_);
  const std::string file = cache_files(options_.cache_dir).at(0);
  const std::string key = load_tensor_file(file, "CMDS").meta.at("key").get<std::string>();
  std::vector<uint8_t> bytes = read_file_bytes(file);
  bytes[bytes.size() / 2] ^= 0xff;
  test::write_bytes(file, bytes);
  EXPECT_FALSE(load_dataset_cache(file, key).has_value());

  const Dataset second = load_dataset(root_, "train", options_);
  EXPECT_EQ(second.pixels, first.pixels);
  const std::optional<Dataset> rewritten = load_dataset_cache(file, key);
  ASSERT_TRUE(rewritten.has_value());
  EXPECT_EQ(rewritten->pixels, first.pixels);
}

TEST_F(DatasetCacheTest, ChangedSourceMisses) {
  EXPECT_EQ(load_dataset(root_, "train", options_).size(), 3);
  add_image("train/c1/9.png", 9);
  EXPECT_EQ(load_dataset(root_, "train", options_).size(), 4);
  EXPECT_EQ(cache_files(options_.cache_dir).size(), 2u);
}

TEST_F(DatasetCacheTest, WrongKeyIsNotTrusted) {
  load_dataset(root_, "train", options_);
  const std::string file = cache_files(options_.cache_dir).at(0);
  EXPECT_FALSE(load_dataset_cache(file, "0000000000000000").has_value());
}

TEST_F(DatasetCacheTest, NoneWritesNothingAndEnvironmentPicksTheFolder) {
  DatasetOptions none = options_;
  none.cache_dir = "none";
  load_dataset(root_, "train", none);
  EXPECT_TRUE(cache_files(options_.cache_dir).empty());

  const std::string env_dir = test::make_temp_dir();
  setenv("CLUSTERMIM_CACHE", env_dir.c_str(), 1);
  EXPECT_EQ(resolve_cache_dir(""), env_dir);
  load_dataset(root_, "train", DatasetOptions{});
  unsetenv("CLUSTERMIM_CACHE");
  EXPECT_EQ(cache_files(env_dir).size(), 1u);
  EXPECT_EQ(resolve_cache_dir("none"), "");
}

TEST(DatasetCacheSpec, BadSplitMissingPathAndUnknownLayoutAreNamed) {
  const std::string dir = test::make_temp_dir();
  EXPECT_NE(error_message([&] { load_dataset(dir, "val"); }).find("\"val\""), std::string::npos);
  const std::string missing = dir + "/nowhere";
  EXPECT_NE(error_message([&] { load_dataset(missing, "train"); }).find(missing + ": no such"),
            std::string::npos);
  write_file_atomic(dir + "/readme.txt", "hello");
  DatasetOptions none;
  none.cache_dir = "none";
  const std::string msg = error_message([&] { load_dataset(dir, "train", none); });
  EXPECT_NE(msg.find(dir + ": not a recognised dataset"), std::string::npos) << msg;
  EXPECT_NE(error_message([&] {
              load_dataset(dir + "/readme.txt", "train", none);
            }).find("not a recognised"),
            std::string::npos);
  const std::string tar = dir + "/other.tar";
  test::write_tar(tar, dir, "", false);
  EXPECT_NE(
      error_message([&] { load_dataset(tar, "train", none); }).find(tar + ": not a recognised"),
      std::string::npos);
}

TEST(DatasetCacheSpec, FingerprintTracksContentAndOrder) {
  const std::string dir = test::make_temp_dir();
  write_file_atomic(dir + "/a", "1");
  Fingerprint before;
  before.add_path(dir, true);
  write_file_atomic(dir + "/a", "12");
  Fingerprint after;
  after.add_path(dir, true);
  EXPECT_NE(before.hex(), after.hex());
  Fingerprint ab, a_b;
  ab.add("ab");
  a_b.add("a");
  a_b.add("b");
  EXPECT_NE(ab.hex(), a_b.hex());
  EXPECT_EQ(ab.hex().size(), 16u);
}

}  // namespace
}  // namespace clustermim
