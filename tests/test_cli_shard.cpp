/*
 * `clustermim data shard` as a user runs it: an IDX dataset (decoded in memory, so each image is
 * written as a PNG) becomes WebDataset shards that index back to the same pixels and labels, and
 * a missing source is a one-line error with a non-zero exit and no shard written.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "data/dataset.h"
#include "data/sample_index.h"
#include "support/cli_runner.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::run_cli;
using testing::RunResult;
using testing::TempDir;
using testing::write_idx;

TEST(CliShard, InMemoryDatasetBecomesShardsWithTheSamePixelsAndLabels) {
  TempDir dir;
  write_idx(dir.path(), "train", 30);
  write_idx(dir.path(), "t10k", 10);
  const std::string out = dir.file("shards");
  const RunResult r =
      run_cli(dir, "data shard " + dir.path() + " " + out + " --split test --shard-size 4");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 10 test samples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 shards"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out + "/test/test-000002.tar"));

  DatasetOptions options;
  options.cache_dir = "none";
  const Dataset d = load_dataset(dir.path(), "test", options);
  const SampleIndex index = index_samples(out, "test", IndexOptions{"none"});
  EXPECT_EQ(index.classes, d.classes);
  ASSERT_EQ(index.size(), d.size());
  for (int64_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(index.samples[i].label, d.labels[i]);
    const std::vector<uint8_t> png = read_sample(index, i);
    const cv::Mat image = cv::imdecode(png, cv::IMREAD_UNCHANGED);
    ASSERT_EQ(image.channels(), 1);
    ASSERT_EQ(image.total(), static_cast<size_t>(d.image_bytes()));
    EXPECT_TRUE(std::equal(image.data, image.data + image.total(), d.image(i))) << i;
  }
}

TEST(CliShard, MissingSourceIsAOneLineError) {
  TempDir dir;
  const RunResult r = run_cli(dir, "data shard " + dir.file("nothing") + " " + dir.file("out"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("nothing: no such file or folder"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out")));
}

}  // namespace
}  // namespace clustermim
