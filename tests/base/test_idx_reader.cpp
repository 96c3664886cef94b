/*
 * Tests of the IDX (MNIST / Fashion-MNIST) reader: raw and gzipped files read back exactly,
 * every malformed input (wrong magic, truncation, absurd header, count mismatch, bad label)
 * rejected with the file named, class names by spec/folder, tar archives of IDX files, and the
 * installed Fashion-MNIST test split when the Debian package is present.
 */
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/idx_reader.h"
#include "data_test_util.h"

namespace clustermim {
namespace {

using test::error_message;

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t cols,
                                uint32_t magic = 0x803) {
  std::vector<uint8_t> out;
  for (uint32_t v : {magic, count, rows, cols}) put_be32(out, v);
  for (uint32_t i = 0; i < count * rows * cols; ++i) out.push_back(static_cast<uint8_t>(i * 7 + 3));
  return out;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> out;
  for (uint32_t v : {0x801u, static_cast<uint32_t>(labels.size())}) put_be32(out, v);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

DatasetOptions no_cache() {
  DatasetOptions o;
  o.cache_dir = "none";
  return o;
}

/// A folder with a raw train split (3 images 4x5) and a gzipped test split (2 images 4x5).
class IdxReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir() + "/digits";
    test::write_bytes(dir_ + "/train-images-idx3-ubyte", idx_images(3, 4, 5));
    test::write_bytes(dir_ + "/train-labels-idx1-ubyte", idx_labels({1, 9, 0}));
    write_gz(dir_ + "/t10k-images-idx3-ubyte.gz", idx_images(2, 4, 5));
    write_gz(dir_ + "/t10k-labels-idx1-ubyte.gz", idx_labels({4, 2}));
  }
  std::string dir_;
};

TEST_F(IdxReaderTest, RawAndGzipReadBackExactly) {
  const std::vector<uint8_t> expected_train = idx_images(3, 4, 5);
  const Dataset train = load_dataset(dir_, "train", no_cache());
  EXPECT_EQ(train.name, "digits");
  EXPECT_EQ(train.split, "train");
  EXPECT_EQ(train.size(), 3);
  EXPECT_EQ(train.height, 4);
  EXPECT_EQ(train.width, 5);
  EXPECT_EQ(train.channels, 1);
  EXPECT_EQ(train.pixels, std::vector<uint8_t>(expected_train.begin() + 16, expected_train.end()));
  EXPECT_EQ(train.labels, (std::vector<int32_t>{1, 9, 0}));
  EXPECT_EQ(train.classes[9], "9");

  const Dataset test = load_dataset(dir_, "test", no_cache());
  const std::vector<uint8_t> expected_test = idx_images(2, 4, 5);
  EXPECT_EQ(test.pixels, std::vector<uint8_t>(expected_test.begin() + 16, expected_test.end()));
  EXPECT_EQ(test.labels, (std::vector<int32_t>{4, 2}));
}

TEST_F(IdxReaderTest, FashionClassNamesFromFolderName) {
  const std::string fashion = test::make_temp_dir() + "/my-fashion-copy";
  std::filesystem::copy(dir_, fashion);
  const Dataset d = load_dataset(fashion, "train", no_cache());
  ASSERT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.classes[0], "T-shirt/top");
  EXPECT_EQ(d.classes[9], "Ankle boot");
}

TEST_F(IdxReaderTest, WrongMagicNamesTheFile) {
  test::write_bytes(dir_ + "/train-images-idx3-ubyte", idx_images(3, 4, 5, 0x804));
  const std::string msg = error_message([&] { load_dataset(dir_, "train", no_cache()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
}

TEST_F(IdxReaderTest, TruncatedImagesNameTheFile) {
  std::vector<uint8_t> bytes = idx_images(3, 4, 5);
  bytes.resize(bytes.size() - 7);
  test::write_bytes(dir_ + "/train-images-idx3-ubyte", bytes);
  const std::string msg = error_message([&] { load_dataset(dir_, "train", no_cache()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST_F(IdxReaderTest, TruncatedGzipNamesTheFile) {
  std::vector<uint8_t> gz = read_file_bytes(dir_ + "/t10k-images-idx3-ubyte.gz");
  gz.resize(gz.size() / 2);
  test::write_bytes(dir_ + "/t10k-images-idx3-ubyte.gz", gz);
  const std::string msg = error_message([&] { load_dataset(dir_, "test", no_cache()); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

TEST_F(IdxReaderTest, CountMismatchNamesBothFiles) {
  test::write_bytes(dir_ + "/train-labels-idx1-ubyte", idx_labels({1, 2}));
  const std::string msg = error_message([&] { load_dataset(dir_, "train", no_cache()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train-labels-idx1-ubyte"), std::string::npos) << msg;
}

TEST_F(IdxReaderTest, LabelOutOfRangeNamesTheFile) {
  test::write_bytes(dir_ + "/train-labels-idx1-ubyte", idx_labels({1, 10, 0}));
  const std::string msg = error_message([&] { load_dataset(dir_, "train", no_cache()); });
  EXPECT_NE(msg.find("train-labels-idx1-ubyte: label 10"), std::string::npos) << msg;
}

TEST_F(IdxReaderTest, MissingSplitFileIsNamed) {
  std::filesystem::remove(dir_ + "/t10k-labels-idx1-ubyte.gz");
  const std::string msg = error_message([&] { load_dataset(dir_, "test", no_cache()); });
  EXPECT_NE(msg.find("t10k-labels-idx1-ubyte.gz"), std::string::npos) << msg;
}

TEST_F(IdxReaderTest, TarArchiveOfIdxFiles) {
  const std::string archive = test::make_temp_dir() + "/digits.tar.gz";
  test::write_tar(archive, dir_, "mnist/", true);
  DatasetOptions options;
  options.cache_dir = test::make_temp_dir();
  const Dataset from_archive = load_dataset(archive, "test", options);
  const Dataset from_folder = load_dataset(dir_, "test", no_cache());
  EXPECT_EQ(from_archive.name, "digits");
  EXPECT_EQ(from_archive.pixels, from_folder.pixels);
  EXPECT_EQ(from_archive.labels, from_folder.labels);
}

TEST(IdxReader, AbsurdDimensionsRejectedBeforeAllocating) {
  std::vector<uint8_t> header;
  for (uint32_t v : {0x803u, 1u, 100000u, 100000u}) put_be32(header, v);
  const std::string msg = error_message([&] { parse_idx_images(header, "huge.idx"); });
  EXPECT_NE(msg.find("huge.idx: implausible image size"), std::string::npos) << msg;
  std::vector<uint8_t> many;
  for (uint32_t v : {0x803u, 0xffffffffu, 28u, 28u}) put_be32(many, v);
  EXPECT_NE(error_message([&] { parse_idx_images(many, "many.idx"); }).find("many.idx"),
            std::string::npos);
}

TEST(IdxReader, NotGzipPassesThrough) {
  const std::vector<uint8_t> bytes{1, 2, 3};
  EXPECT_EQ(gunzip_if_gzip(bytes, "x"), bytes);
}

TEST(IdxReader, InstalledFashionMnistTestSplit) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  const Dataset d = load_dataset("fashion-mnist", "test", no_cache());
  EXPECT_EQ(d.name, "fashion-mnist");
  EXPECT_EQ(d.size(), 10000);
  EXPECT_EQ(d.height, 28);
  EXPECT_EQ(d.width, 28);
  EXPECT_EQ(d.channels, 1);
  ASSERT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.classes[0], "T-shirt/top");
  std::vector<int> per_class(10, 0);
  for (int32_t l : d.labels) ++per_class[static_cast<size_t>(l)];
  for (int count : per_class) EXPECT_EQ(count, 1000);
}

}  // namespace
}  // namespace clustermim
