/*
 * Tests of the image-folder reader on small JPEG/PNG fixtures written with cv::imencode:
 * sorted classes (union of both splits), labels and order, exact PNG pixels in RGB, corrupt /
 * empty / truncated images skipped and counted, folder vs .tar vs .tar.gz (with one top folder)
 * reading identically, resize + center crop, TurboJPEG scaled decoding, grayscale handling,
 * thread-count independence, and the errors for mixed sizes and all-corrupt splits.
 */
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image_folder_reader.h"
#include "data_test_util.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;
using test::error_message;

std::vector<uint8_t> encode(const cv::Mat& image, const std::string& ext) {
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(ext, image, bytes));
  return bytes;
}

/// A solid colour image, given in RGB (OpenCV stores BGR).
cv::Mat solid(int rows, int cols, int r, int g, int b) {
  return cv::Mat(rows, cols, CV_8UC3, cv::Scalar(b, g, r));
}

/// Pixel (y, x) = RGB (10x, 10y, 100).
cv::Mat gradient(int rows, int cols) {
  cv::Mat m(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x)
      m.at<cv::Vec3b>(y, x) =
          cv::Vec3b(100, static_cast<uint8_t>(10 * y), static_cast<uint8_t>(10 * x));
  }
  return m;
}

DatasetOptions opts(int image_size = 0, int threads = 2) {
  DatasetOptions o;
  o.cache_dir = "none";
  o.image_size = image_size;
  o.threads = threads;
  return o;
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::make_temp_dir() + "/pets";
    const std::vector<uint8_t> jpeg = encode(solid(16, 16, 200, 30, 60), ".jpg");
    put("train/ant/a.jpg", jpeg);
    put("train/ant/b.jpeg", encode(solid(16, 16, 10, 220, 40), ".jpg"));
    put("train/bird/x.png", encode(gradient(16, 16), ".png"));
    put("train/cat/broken.jpg", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
    cv::Mat noise(64, 64, CV_8UC3);
    cv::randu(noise, 0, 255);
    const std::vector<uint8_t> big = encode(noise, ".jpg");  // cut inside the entropy-coded data
    put("train/cat/cut.jpg", std::vector<uint8_t>(big.begin(), big.begin() + big.size() * 3 / 4));
    put("train/cat/empty.png", {});
    put("train/cat/notes.txt", {'h', 'i'});
    put("train/cat/y.png", encode(solid(16, 16, 1, 2, 3), ".png"));
    put("test/dog/z.png", encode(solid(16, 16, 9, 9, 9), ".png"));
  }
  void put(const std::string& rel, const std::vector<uint8_t>& bytes) {
    test::write_bytes(root_ + "/" + rel, bytes);
  }
  std::string root_;
};

TEST_F(ImageFolderTest, SortedClassesLabelsAndExactPngPixels) {
  const Dataset d = load_dataset(root_, "train", opts());
  EXPECT_EQ(d.name, "pets");
  EXPECT_EQ(d.classes, (std::vector<std::string>{"ant", "bird", "cat", "dog"}));
  ASSERT_EQ(d.size(), 4);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 0, 1, 2}));
  EXPECT_EQ(d.skipped, 3);  // broken.jpg, cut.jpg, empty.png
  EXPECT_EQ(d.height, 16);
  EXPECT_EQ(d.width, 16);
  EXPECT_EQ(d.channels, 3);
  const uint8_t* bird = d.image(2);
  const int y = 3, x = 7;
  EXPECT_EQ(bird[(y * 16 + x) * 3 + 0], 10 * x);
  EXPECT_EQ(bird[(y * 16 + x) * 3 + 1], 10 * y);
  EXPECT_EQ(bird[(y * 16 + x) * 3 + 2], 100);
  const uint8_t* ant = d.image(0);
  EXPECT_NEAR(ant[0], 200, 4);
  EXPECT_NEAR(ant[1], 30, 4);
  EXPECT_NEAR(ant[2], 60, 4);
  EXPECT_EQ(d.image(3)[0], 1);
}

TEST_F(ImageFolderTest, ArchivesReadLikeTheFolder) {
  const Dataset folder = load_dataset(root_, "train", opts());
  const std::string dir = test::make_temp_dir();
  test::write_tar(dir + "/pets.tar.gz", root_, "pets/", true);
  test::write_tar(dir + "/flat.tar", root_, "", false);
  test::write_tar(dir + "/dotted.tgz", root_, "./", true);
  for (const char* name : {"pets.tar.gz", "flat.tar", "dotted.tgz"}) {
    const Dataset a = load_dataset(dir + "/" + name, "train", opts());
    EXPECT_EQ(a.classes, folder.classes) << name;
    EXPECT_EQ(a.labels, folder.labels) << name;
    EXPECT_EQ(a.pixels, folder.pixels) << name;
    EXPECT_EQ(a.skipped, folder.skipped) << name;
  }
  EXPECT_EQ(load_dataset(dir + "/pets.tar.gz", "test", opts()).labels, (std::vector<int32_t>{3}));
}

TEST_F(ImageFolderTest, ResizeShorterSideAndCenterCrop) {
  const Dataset small = load_dataset(root_, "train", opts(8));
  EXPECT_EQ(small.height, 8);
  EXPECT_EQ(small.width, 8);
  EXPECT_EQ(small.size(), 4);
  EXPECT_EQ(small.image(3)[0], 1);  // a solid colour stays exact under INTER_AREA

  const std::string root = test::make_temp_dir() + "/wide";
  test::write_bytes(root + "/train/a/wide.png", encode(gradient(10, 20), ".png"));
  const Dataset crop = load_dataset(root, "train", opts(10));
  ASSERT_EQ(crop.width, 10);
  EXPECT_EQ(crop.image(0)[0], 10 * 5);  // column 0 of the crop is column 5 of the original
  const Dataset up = load_dataset(root, "train", opts(20));
  EXPECT_EQ(up.height, 20);
  EXPECT_EQ(up.width, 20);
}

TEST_F(ImageFolderTest, MixedSizesNeedAnImageSize) {
  put("train/bird/big.png", encode(solid(20, 24, 0, 0, 0), ".png"));
  const std::string msg = error_message([&] { load_dataset(root_, "train", opts()); });
  EXPECT_NE(msg.find("image size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("big.png"), std::string::npos) << msg;
  EXPECT_EQ(load_dataset(root_, "train", opts(12)).size(), 5);
}

TEST_F(ImageFolderTest, LargeJpegUsesScaledDecodeAndKeepsColour) {
  const std::string root = test::make_temp_dir() + "/large";
  test::write_bytes(root + "/train/a/big.jpg", encode(solid(256, 384, 50, 150, 250), ".jpg"));
  const Dataset d = load_dataset(root, "train", opts(32));
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.width, 32);
  EXPECT_NEAR(d.image(0)[(16 * 32 + 16) * 3 + 0], 50, 4);
  EXPECT_NEAR(d.image(0)[(16 * 32 + 16) * 3 + 2], 250, 4);
}

TEST(ImageFolder, GrayscaleOnlyGivesOneChannelMixedGivesRgb) {
  const std::string root = test::make_temp_dir() + "/gray";
  test::write_bytes(root + "/train/a/g.png",
                    encode(cv::Mat(8, 8, CV_8UC1, cv::Scalar(77)), ".png"));
  test::write_bytes(root + "/train/b/g.jpg",
                    encode(cv::Mat(8, 8, CV_8UC1, cv::Scalar(128)), ".jpg"));
  const Dataset gray = load_dataset(root, "train", opts());
  EXPECT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.image(0)[0], 77);
  EXPECT_NEAR(gray.image(1)[0], 128, 2);
  test::write_bytes(root + "/train/c/rgb.png", encode(solid(8, 8, 1, 2, 3), ".png"));
  const Dataset mixed = load_dataset(root, "train", opts());
  EXPECT_EQ(mixed.channels, 3);
  EXPECT_EQ(std::vector<uint8_t>(mixed.image(0), mixed.image(0) + 3),
            (std::vector<uint8_t>{77, 77, 77}));
}

TEST(ImageFolder, AllCorruptIsAnError) {
  const std::string root = test::make_temp_dir() + "/junk";
  test::write_bytes(root + "/train/a/1.jpg", {1, 2, 3});
  test::write_bytes(root + "/train/a/2.png", {});
  const std::string msg = error_message([&] { load_dataset(root, "train", opts()); });
  EXPECT_NE(msg.find("none of the 2 images"), std::string::npos) << msg;
}

TEST(ImageFolder, OutputDoesNotDependOnThreadCount) {
  const std::string root = test::make_temp_dir() + "/many";
  for (int i = 0; i < 40; ++i) {
    test::write_bytes(root + "/train/c" + std::to_string(i % 3) + "/" + std::to_string(i) + ".jpg",
                      encode(gradient(12, 12) + cv::Scalar(i, 2 * i, 3 * i), ".jpg"));
  }
  const Dataset one = load_dataset(root, "train", opts(0, 1));
  const Dataset four = load_dataset(root, "train", opts(0, 4));
  EXPECT_EQ(one.size(), 40);
  EXPECT_EQ(one.pixels, four.pixels);
  EXPECT_EQ(one.labels, four.labels);
}

TEST(ImageFolder, ParsesArchiveEntryPaths) {
  const auto e = parse_image_entry("cifar10/train/cat/0001.JPG");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->top, "cifar10");
  EXPECT_EQ(e->split, "train");
  EXPECT_EQ(e->label, "cat");
  EXPECT_EQ(e->file, "0001.JPG");
  EXPECT_TRUE(parse_image_entry("test/dog/a.png").has_value());
  EXPECT_FALSE(parse_image_entry("train/dog/notes.txt").has_value());
  EXPECT_FALSE(parse_image_entry("train/dog/._a.jpg").has_value());
  EXPECT_FALSE(parse_image_entry("val/dog/a.jpg").has_value());
  EXPECT_FALSE(parse_image_entry("a/b/train/dog/a.jpg").has_value());
}

TEST(ImageFolder, SeveralTopFoldersAreRejected) {
  const std::string root = test::make_temp_dir() + "/two";
  test::write_bytes(root + "/a/train/x/1.png", encode(solid(4, 4, 0, 0, 0), ".png"));
  test::write_bytes(root + "/b/train/x/1.png", encode(solid(4, 4, 0, 0, 0), ".png"));
  const std::string archive = test::make_temp_dir() + "/two.tar";
  test::write_tar(archive, root, "", false);
  const std::string msg = error_message([&] { load_dataset(archive, "train", opts()); });
  EXPECT_NE(msg.find("several top folders"), std::string::npos) << msg;
}

}  // namespace
}  // namespace clustermim
