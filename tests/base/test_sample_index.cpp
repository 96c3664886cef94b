/*
 * Tests of the sample indexes (data/sample_index.h): labeled and unlabeled folders, the
 * test -> val fallback, tar offsets against the files, .tar.gz through the cache, WebDataset
 * grouping rules and brace lists, the index cache (reuse, a changed file, a corrupt cache file)
 * and shards written by write_shards / shard_source indexing back to the same samples.
 * Fixtures are tiny JPEG/PNG files written with OpenCV into a temp folder.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "base/data_test_util.h"
#include "data/sample_index.h"
#include "data/sample_index_file.h"
#include "data/tar_index.h"
#include "data/webdataset.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::make_temp_dir;
using test::write_bytes;
using test::write_tar;

std::vector<uint8_t> image_bytes(const std::string& ext, int value) {
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(
      ext, cv::Mat(5 + value % 3, 7, CV_8UC3, cv::Scalar(value, 40, 200 - value)), bytes));
  return bytes;
}

void write_image(const std::string& path, int value) {
  fs::create_directories(fs::path(path).parent_path());
  write_bytes(path, image_bytes(fs::path(path).extension() == ".png" ? ".png" : ".jpg", value));
}

IndexOptions no_cache() { return IndexOptions{"none"}; }

/// root/train/{cat,dog}/..., root/test/{bird,cat}/...: 4 train images (one nested), 2 test.
std::string labeled_folder() {
  const std::string root = make_temp_dir();
  write_image(root + "/train/dog/d1.png", 1);
  write_image(root + "/train/cat/c2.jpg", 2);
  write_image(root + "/train/cat/c1.jpg", 3);
  write_image(root + "/train/cat/more/c0.png", 4);
  write_bytes(root + "/train/cat/notes.txt", {'x'});
  write_image(root + "/test/bird/b1.jpg", 5);
  write_image(root + "/test/cat/c9.png", 6);
  return root;
}

void write_member(TarWriter& w, const std::string& name, const std::string& text) {
  w.add(name, text.data(), text.size());
}

void write_member(TarWriter& w, const std::string& name, const std::vector<uint8_t>& bytes) {
  w.add(name, bytes.data(), bytes.size());
}

TEST(SampleIndex, LabeledFolderRecursiveClassesOfAllSplits) {
  const std::string root = labeled_folder();
  const SampleIndex index = index_samples(root, "train", no_cache());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"bird", "cat", "dog"}));
  EXPECT_EQ(index.split, "train");
  ASSERT_EQ(index.size(), 4);
  const std::vector<std::string> expected = {"train/cat/c1.jpg", "train/cat/c2.jpg",
                                             "train/cat/more/c0.png", "train/dog/d1.png"};
  for (int64_t i = 0; i < index.size(); ++i) {
    const std::string path = root + "/" + expected[i];
    EXPECT_EQ(index.names[i], path);
    EXPECT_EQ(index.samples[i].label, i < 3 ? 1 : 2);
    EXPECT_EQ(read_sample(index, i), read_file_bytes(path));
  }
  EXPECT_NE(error_message([&] { index_samples(root, "val", no_cache()); }).find("no val/ folder"),
            std::string::npos);
}

TEST(SampleIndex, TestFallsBackToVal) {
  const std::string root = make_temp_dir();
  write_image(root + "/train/a/1.jpg", 1);
  write_image(root + "/val/a/2.jpg", 2);
  write_image(root + "/val/b/3.jpg", 3);
  const SampleIndex index = index_samples(root, "test", no_cache());
  EXPECT_EQ(index.split, "val");
  EXPECT_EQ(index.size(), 2);
  EXPECT_EQ(index.classes, (std::vector<std::string>{"a", "b"}));
}

TEST(SampleIndex, UnlabeledFolderIsOneRecursiveTrainSplit) {
  const std::string root = make_temp_dir();
  write_image(root + "/x.jpg", 1);
  write_image(root + "/sub/deeper/y.png", 2);
  write_image(root + "/.hidden/z.png", 3);
  write_bytes(root + "/readme.txt", {'x'});
  const SampleIndex index = index_samples(root, "train", no_cache());
  EXPECT_FALSE(index.labeled());
  ASSERT_EQ(index.size(), 2);
  EXPECT_EQ(index.samples[0].label, -1);
  EXPECT_EQ(read_sample(index, 0), read_file_bytes(root + "/sub/deeper/y.png"));
  EXPECT_EQ(read_sample(index, 1), read_file_bytes(root + "/x.jpg"));
  EXPECT_EQ(error_message([&] { index_samples(root, "test", no_cache()); }),
            root + ": an unlabeled folder has only the split train, not test");
}

TEST(SampleIndex, TarOffsetsGiveTheFilesBytes) {
  const std::string root = labeled_folder();
  // Long paths: a 120-byte class name goes to ustar's prefix field, a 110-byte file name into a
  // pax header.
  write_image(root + "/train/" + std::string(120, 'z') + "/long.jpg", 7);
  write_image(root + "/train/dog/" + std::string(110, 'l') + ".jpg", 8);
  const std::string dir = make_temp_dir();
  write_tar(dir + "/set.tar", root, "top/", false);
  const SampleIndex folder = index_samples(root, "train", no_cache());
  const SampleIndex tar = index_samples(dir + "/set.tar", "train", no_cache());
  EXPECT_EQ(tar.classes, folder.classes);
  ASSERT_EQ(tar.size(), 6);
  ASSERT_EQ(tar.files.size(), 1u);
  for (int64_t i = 0; i < tar.size(); ++i) {
    EXPECT_EQ(tar.samples[i].label, folder.samples[i].label);
    EXPECT_EQ(read_sample(tar, i), read_sample(folder, i)) << tar.names[i];
  }
  EXPECT_EQ(tar.names[0], dir + "/set.tar:top/train/cat/c1.jpg");

  write_tar(dir + "/set.tar.gz", root, "", true);
  const std::string cache = make_temp_dir();
  const SampleIndex gz = index_samples(dir + "/set.tar.gz", "train", IndexOptions{cache});
  ASSERT_EQ(gz.size(), 6);
  EXPECT_EQ(fs::path(gz.files[0]).parent_path(), fs::path(cache));
  for (int64_t i = 0; i < gz.size(); ++i) EXPECT_EQ(read_sample(gz, i), read_sample(folder, i));
  EXPECT_NE(error_message([&] {
              index_samples(dir + "/set.tar.gz", "train", no_cache());
            }).find("caching is off"),
            std::string::npos);
}

TEST(SampleIndex, CorruptOrTruncatedTarIsAnError) {
  const std::string root = labeled_folder();
  const std::string dir = make_temp_dir();
  write_tar(dir + "/set.tar", root, "", false);
  std::vector<uint8_t> bytes = read_file_bytes(dir + "/set.tar");
  bytes[10] ^= 0x55;  // inside the first member's name: the checksum no longer matches
  write_bytes(dir + "/bad.tar", bytes);
  EXPECT_NE(error_message([&] {
              index_samples(dir + "/bad.tar", "train", no_cache());
            }).find("bad.tar: corrupt tar header at byte 0"),
            std::string::npos);
  bytes = read_file_bytes(dir + "/set.tar");
  bytes.resize(700);  // the first member's header and part of its data
  write_bytes(dir + "/short.tar", bytes);
  EXPECT_NE(error_message([&] {
              index_samples(dir + "/short.tar", "train", no_cache());
            }).find("runs past the end of the archive"),
            std::string::npos);
}

TEST(SampleIndex, WebDatasetGroupsAdjacentMembersByKey) {
  const std::string root = make_temp_dir();
  fs::create_directories(root + "/train");
  const std::vector<uint8_t> a = image_bytes(".jpg", 1), b = image_bytes(".png", 2);
  {
    TarWriter w(root + "/train/s-000000.tar");
    write_member(w, "dir/a.jpg", a);
    write_member(w, "dir/a.cls", "2\n");
    write_member(w, "dir/a.json", "{}");
    write_member(w, "b.x.png", b);
    write_member(w, "b.x.cls", "0");
    w.finish();
  }
  {
    TarWriter w(root + "/train/s-000001.tar");
    write_member(w, "c.cls", "1");
    write_member(w, "c.jpeg", a);
    w.finish();
  }
  SampleIndex index = index_samples(root, "train", no_cache());
  ASSERT_EQ(index.size(), 3);
  EXPECT_EQ(index.classes, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(index.names[0], (root + "/train/s-000000.tar") + ":dir/a");
  EXPECT_EQ(index.names[1], (root + "/train/s-000000.tar") + ":b");
  EXPECT_EQ(index.samples[0].label, 2);
  EXPECT_EQ(index.samples[1].label, 0);
  EXPECT_EQ(index.samples[2].label, 1);
  EXPECT_EQ(read_sample(index, 0), a);
  EXPECT_EQ(read_sample(index, 1), b);
  EXPECT_EQ(read_sample(index, 2), a);

  write_bytes(root + "/train/classes.txt", {'x', '\n', 'y', '\n', 'z', '\n'});
  index = index_samples(root, "train", no_cache());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"x", "y", "z"}));
  write_bytes(root + "/train/classes.txt", {'x', '\n'});
  EXPECT_NE(error_message([&] {
              index_samples(root, "train", no_cache());
            }).find("label 2 is out of range for the 1 classes"),
            std::string::npos);
}

TEST(SampleIndex, WebDatasetRuleBreaksAreErrorsNamingTheShard) {
  const std::string root = make_temp_dir();
  const std::vector<uint8_t> a = image_bytes(".jpg", 1);
  const auto shard_error = [&](const std::function<void(TarWriter&)>& fill) {
    fs::remove_all(root + "/train");
    fs::create_directories(root + "/train");
    TarWriter w(root + "/train/s.tar");
    fill(w);
    w.finish();
    return error_message([&] { index_samples(root, "train", no_cache()); });
  };
  const std::string shard = root + "/train/s.tar";
  EXPECT_EQ(shard_error([&](TarWriter& w) {
              write_member(w, "a.jpg", a);
              write_member(w, "b.jpg", a);
              write_member(w, "a.cls", "1");
            }),
            shard +
                ": the members of sample a are not adjacent (a.cls comes after another "
                "sample's)");
  EXPECT_EQ(shard_error([&](TarWriter& w) {
              write_member(w, "a.jpg", a);
              write_member(w, "c.cls", "1");
            }),
            shard + ":c has no .jpg/.jpeg/.png member");
  EXPECT_EQ(shard_error([&](TarWriter& w) {
              write_member(w, "a.jpg", a);
              write_member(w, "a.png", a);
            }),
            shard + ":a has two image members (a.png)");
  EXPECT_EQ(shard_error([&](TarWriter& w) {
              write_member(w, "a.jpg", a);
              write_member(w, "a.cls", "-1");
            }),
            shard + ":a.cls is not a decimal label >= 0");
  EXPECT_EQ(shard_error([&](TarWriter& w) {
              write_member(w, "a.jpg", a);
              write_member(w, "a.cls", "1");
              write_member(w, "b.jpg", a);
            }),
            shard + ":b has no .cls member while other samples have one");
}

TEST(SampleIndex, BraceListsExpandWithPaddingAndNameAMissingShard) {
  EXPECT_EQ(expand_braces("s-{08..10}.tar"),
            (std::vector<std::string>{"s-08.tar", "s-09.tar", "s-10.tar"}));
  EXPECT_EQ(expand_braces("s-{9..10}-{0..1}"),
            (std::vector<std::string>{"s-9-0", "s-9-1", "s-10-0", "s-10-1"}));
  EXPECT_NE(error_message([] { expand_braces("s-{3..1}.tar"); }).find("malformed shard list"),
            std::string::npos);
  const std::string out = make_temp_dir();
  const ShardSummary summary = write_shards(out, "train", {}, 5, 2, [](int64_t i) {
    return EncodedSample{image_bytes(".jpg", static_cast<int>(i)), -1};
  });
  ASSERT_EQ(summary.shards.size(), 3u);
  EXPECT_EQ(summary.shards[2], out + "/train/train-000002.tar");
  const SampleIndex index =
      index_samples(out + "/train/train-{000000..000002}.tar", "train", no_cache());
  EXPECT_EQ(index.size(), 5);
  EXPECT_FALSE(index.labeled());
  EXPECT_EQ(read_sample(index, 4), image_bytes(".jpg", 4));
  EXPECT_EQ(error_message([&] {
              index_samples(out + "/train/train-{000000..000003}.tar", "train", no_cache());
            }),
            out + "/train/train-{000000..000003}.tar: shard " + out +
                "/train/train-000003.tar is missing");
}

TEST(SampleIndex, CacheIsReusedAndRebuiltWhenStaleOrCorrupt) {
  const std::string root = labeled_folder();
  const std::string cache = make_temp_dir();
  const SampleIndex first = index_samples(root, "train", IndexOptions{cache});
  const std::string path =
      sample_index_cache_path(cache, fs::path(root).filename().string(), "train", first.key);
  ASSERT_TRUE(fs::exists(path));
  const std::optional<SampleIndex> cached = load_sample_index(path, first.key);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->names, first.names);
  EXPECT_FALSE(load_sample_index(path, "another-key").has_value());
  const auto written = fs::last_write_time(path);
  const SampleIndex second = index_samples(root, "train", IndexOptions{cache});
  EXPECT_EQ(second.key, first.key);
  EXPECT_EQ(fs::last_write_time(path), written);  // read, not rewritten
  EXPECT_EQ(second.names, first.names);

  std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::vector<uint8_t> good = bytes;
  bytes[bytes.size() - 3] ^= 0x20;  // inside the last name
  write_bytes(path, bytes);
  EXPECT_FALSE(load_sample_index(path, first.key).has_value());
  const SampleIndex rebuilt = index_samples(root, "train", IndexOptions{cache});
  EXPECT_EQ(rebuilt.names, first.names);
  EXPECT_EQ(read_file_bytes(path), good);

  write_image(root + "/train/dog/d1.png", 9);  // another size: another key, another index
  const SampleIndex changed = index_samples(root, "train", IndexOptions{cache});
  EXPECT_NE(changed.key, first.key);
  EXPECT_EQ(read_sample(changed, 3), read_file_bytes(root + "/train/dog/d1.png"));
}

TEST(SampleIndex, ShardedSourceIndexesBackToTheSameSamples) {
  const std::string root = labeled_folder();
  const std::string out = make_temp_dir();
  DatasetOptions options;
  options.cache_dir = "none";
  const ShardSummary summary = shard_source(root, "train", out, 3, options);
  EXPECT_EQ(summary.samples, 4);
  EXPECT_EQ(summary.shards.size(), 2u);
  EXPECT_EQ(summary.classes_file, out + "/train/classes.txt");
  const SampleIndex source = index_samples(root, "train", no_cache());
  const SampleIndex shards = index_samples(out, "train", no_cache());
  EXPECT_EQ(shards.classes, source.classes);
  ASSERT_EQ(shards.size(), source.size());
  for (int64_t i = 0; i < source.size(); ++i) {
    EXPECT_EQ(shards.samples[i].label, source.samples[i].label);
    EXPECT_EQ(read_sample(shards, i), read_sample(source, i));
  }
  // Written by our writer, read by libarchive too: a standard tar.
  std::vector<std::string> names;
  archive_entry* entry = nullptr;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  ASSERT_EQ(archive_read_open_filename(a, summary.shards[0].c_str(), 4096), ARCHIVE_OK);
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK)
    names.push_back(archive_entry_pathname(entry));
  archive_read_free(a);
  EXPECT_EQ(names, (std::vector<std::string>{"000000000.jpg", "000000000.cls", "000000001.jpg",
                                             "000000001.cls", "000000002.png", "000000002.cls"}));
}

TEST(SampleIndex, ReadSampleNamesTheSampleWhenItsFileShrank) {
  const std::string root = labeled_folder();
  const SampleIndex index = index_samples(root, "train", no_cache());
  write_bytes(index.files[0], {0xff, 0xd8});
  EXPECT_NE(
      error_message([&] { read_sample(index, 0); }).find(index.names[0] + ": file ends at byte 2"),
      std::string::npos);
}

}  // namespace
}  // namespace clustermim
