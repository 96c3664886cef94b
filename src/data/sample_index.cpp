/*
 * index_samples / read_sample (see sample_index.h).
 *
 * Steps: resolve the spec to a layout (a shard list, a .tar or .tar.gz, a labeled folder, a
 * folder of shards per split, an unlabeled folder) and the split actually read; fingerprint the
 * files the layout lists (paths, sizes, mtimes: a walk of the folder, or a stat per archive or
 * shard); return the cached index under that key, or build it and cache it. Building reads no
 * image bytes: folders are listed here; tars are read header by header and shards also read
 * their `cls` members (sample_index_sources.cpp).
 */
#include "data/sample_index.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/fingerprint.h"
#include "data/archive.h"
#include "data/cifar_reader.h"
#include "data/dataset_cache.h"
#include "data/image_folder_reader.h"
#include "data/sample_index_file.h"
#include "data/sample_index_sources.h"
#include "data/tar_index.h"
#include "data/webdataset.h"
#include "io/file_util.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

const char* const kSplitNames[] = {"train", "test", "val"};

enum class Layout { ShardList, Tar, TarGz, Folder, ShardFolder, Unlabeled };

/// What to index: the layout, where, and the split actually read.
struct Plan {
  Layout layout = Layout::Folder;
  std::string root;                 ///< the folder, archive or first shard's folder
  std::string split;                ///< after the test -> val fallback
  std::vector<std::string> shards;  ///< ShardList, ShardFolder
  std::string name;                 ///< for the cache file's name
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

/// A file-name-safe short name for cache files.
std::string cache_name(const std::string& path) {
  std::string name = fs::path(path).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(path).lexically_normal().parent_path().filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  }
  return name.empty() ? "source" : name;
}

/// "train/, val/": the split folders `root` has (for messages).
std::string split_folders(const fs::path& root) {
  std::string list;
  for (const char* s : kSplitNames) {
    if (is_dir(root / s)) list += (list.empty() ? "" : ", ") + std::string(s) + "/";
  }
  return list;
}

/// The sorted *.tar files directly in `dir`.
std::vector<std::string> tar_files_in(const fs::path& dir) {
  std::vector<std::string> shards;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name[0] != '.' && ends_with(lower(name), ".tar"))
      shards.push_back(absolute_path(e.path().string()));
  }
  std::sort(shards.begin(), shards.end());
  return shards;
}

Plan make_plan(const std::string& spec, const std::string& split) {
  Plan p;
  if (has_brace_range(spec)) {
    p.layout = Layout::ShardList;
    p.split = split;
    for (const std::string& shard : expand_braces(spec)) {
      std::error_code ec;
      CM_REQUIRE(fs::is_regular_file(shard, ec), spec, ": shard ", shard, " is missing");
      p.shards.push_back(absolute_path(shard));
    }
    p.root = fs::path(p.shards.front()).parent_path().string();
    p.name = cache_name(p.root) + "-shards";
    return p;
  }
  std::error_code ec;
  CM_REQUIRE(fs::exists(spec, ec), spec, ": no such file or folder");
  p.root = absolute_path(spec);
  p.name = cache_name(spec);
  if (!is_dir(spec)) {
    const std::string name = lower(spec);
    CM_REQUIRE(is_archive_path(spec), spec,
               ": not an image source (expected a folder, a .tar/.tar.gz or a shard list "
               "root/train-{000000..000099}.tar)");
    p.layout = ends_with(name, ".tar") ? Layout::Tar : Layout::TarGz;
    p.split = split;  // resolved once the members are known
    p.name = archive_stem(spec);
    return p;
  }
  const fs::path root(spec);
  if (split_folders(root).empty()) {
    CM_REQUIRE(split == "train", spec, ": an unlabeled folder has only the split train, not ",
               split);
    p.layout = Layout::Unlabeled;
    p.split = split;
    return p;
  }
  p.split = resolve_split(spec, split, [&](const std::string& s) { return is_dir(root / s); });
  CM_REQUIRE(is_dir(root / p.split), spec, ": no ", split, "/ folder (it has ", split_folders(root),
             ")");
  p.shards = tar_files_in(root / p.split);
  p.layout = p.shards.empty() ? Layout::Folder : Layout::ShardFolder;
  return p;
}

/// The content key of the files `plan` lists, and what the index depends on besides.
std::string content_key(const Plan& p) {
  Fingerprint fp;
  fp.add("sample-index");
  fp.add(std::to_string(kSampleIndexVersion));
  fp.add(std::to_string(static_cast<int>(p.layout)));
  fp.add(p.split);
  const fs::path root(p.root);
  switch (p.layout) {
    case Layout::ShardList:
      for (const std::string& shard : p.shards) fp.add_path(shard, false);
      fp.add_path((root / "classes.txt").string(), false);
      break;
    case Layout::Tar:
    case Layout::TarGz:
      fp.add_path(p.root, false);
      break;
    case Layout::Unlabeled:
      fp.add_path(p.root, true);
      break;
    case Layout::ShardFolder:
      fp.add_path((root / p.split).string(), true);
      break;
    case Layout::Folder:  // this split's files, and the class folders of the others
      fp.add_path((root / p.split).string(), true);
      for (const char* s : kSplitNames) {
        if (s != p.split) fp.add_path((root / s).string(), false);
      }
      break;
  }
  return fp.hex();
}

/// Image files below `dir` (recursively, hidden entries left out), sorted by relative path.
std::vector<std::string> images_below(const fs::path& dir) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string name = it->path().filename().string();
    if (name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && is_image_file_name(name)) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void add_file_sample(SampleIndex& index, const std::string& path, int32_t label) {
  const std::string file = absolute_path(path);
  index.samples.push_back({static_cast<int32_t>(index.files.size()), 0,
                           static_cast<int64_t>(fs::file_size(file)), label});
  index.files.push_back(file);
  index.names.push_back(file);
}

void index_folder(const Plan& p, SampleIndex& index) {
  const fs::path root(p.root);
  std::set<std::string> classes;
  for (const char* s : kSplitNames) {
    if (!is_dir(root / s)) continue;
    for (const fs::directory_entry& e : fs::directory_iterator(root / s)) {
      const std::string name = e.path().filename().string();
      if (e.is_directory() && name[0] != '.') classes.insert(name);
    }
  }
  index.classes.assign(classes.begin(), classes.end());
  for (size_t label = 0; label < index.classes.size(); ++label) {
    const fs::path class_dir = root / p.split / index.classes[label];
    if (!is_dir(class_dir)) continue;
    for (const std::string& f : images_below(class_dir))
      add_file_sample(index, f, static_cast<int32_t>(label));
  }
  CM_REQUIRE(index.size() > 0, (root / p.split).string(),
             ": no .jpg/.jpeg/.png images found in its <class>/ folders");
}

void index_unlabeled(const Plan& p, SampleIndex& index) {
  for (const std::string& f : images_below(p.root)) add_file_sample(index, f, -1);
  CM_REQUIRE(index.size() > 0, p.root,
             ": no .jpg/.jpeg/.png images found (expected an unlabeled folder of images, or "
             "train/ and test/ folders of <class>/<image> files)");
}

SampleIndex build(Plan& p, const std::string& cache_dir, const std::string& key) {
  SampleIndex index;
  switch (p.layout) {
    case Layout::Folder:
      index_folder(p, index);
      break;
    case Layout::Unlabeled:
      index_unlabeled(p, index);
      break;
    case Layout::Tar:
      index_tar_tree(p.root, p.root, p.split, index);
      p.split = index.split;
      break;
    case Layout::TarGz:
      index_tar_tree(unpacked_tar(p.root, cache_dir, key), p.root, p.split, index);
      p.split = index.split;
      break;
    case Layout::ShardFolder:
      index_shards(p.shards, (fs::path(p.root) / p.split).string(), index);
      break;
    case Layout::ShardList:
      index_shards(p.shards, p.root, index);
      break;
  }
  index.split = p.split;
  index.key = key;
  return index;
}

SampleIndex index_unchecked(const std::string& spec, const std::string& split,
                            const IndexOptions& options) {
  Plan plan = make_plan(spec, split);
  const std::string key = content_key(plan);
  const std::string dir = resolve_cache_dir(options.cache_dir);
  const std::string cache = dir.empty() ? "" : sample_index_cache_path(dir, plan.name, split, key);
  if (!cache.empty()) {
    if (plan.layout == Layout::TarGz) unpacked_tar(plan.root, dir, key);
    if (std::optional<SampleIndex> cached = load_sample_index(cache, key)) {
      spdlog::info("loaded the index of {} {} samples of {} from {}", cached->size(), cached->split,
                   spec, cache);
      cached->source = spec;
      return std::move(*cached);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  SampleIndex index = build(plan, dir, key);
  index.source = spec;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (cache.empty()) {
    spdlog::info("indexed {} {} samples of {} in {:.1f} s", index.size(), index.split, spec,
                 seconds);
    return index;
  }
  try {
    save_sample_index(cache, index);
    spdlog::info("indexed {} {} samples of {} in {:.1f} s, cached to {}", index.size(), index.split,
                 spec, seconds, cache);
  } catch (const Error& e) {
    spdlog::warn("indexed {} samples of {}, not cached: {}", index.size(), spec, e.what());
  }
  return index;
}

}  // namespace

SampleIndex index_samples(const std::string& spec, const std::string& split,
                          const IndexOptions& options) {
  CM_REQUIRE(!split.empty(), spec, ": empty split name");
  try {
    return index_unchecked(spec, split, options);
  } catch (const fs::filesystem_error& e) {
    fail(spec, ": ", e.path1().empty() ? spec : e.path1().string(), ": ", e.code().message());
  }
}

bool is_sample_source(const std::string& spec) {
  if (spec == "fashion-mnist" || spec == "mnist") return false;
  if (has_brace_range(spec)) return true;
  std::error_code ec;
  if (!fs::exists(spec, ec)) return false;
  const auto binary = [](const std::string& name) {
    const std::string file = fs::path(name).filename().string();
    return file.find("-idx3-ubyte") != std::string::npos || file == "data_batch_1.bin" ||
           file == "test_batch.bin";
  };
  if (is_dir(spec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(spec)) {
      if (binary(e.path().string())) return false;
    }
    return cifar_batch_dir(spec).empty();
  }
  if (!is_archive_path(spec)) return false;
  const std::string first = find_archive_entry(spec, [&](const std::string& e) {
    return binary(e) || is_image_file_name(fs::path(e).filename().string());
  });
  return !first.empty() && !binary(first);
}

std::vector<uint8_t> read_sample(const SampleIndex& index, int64_t i) {
  CM_REQUIRE(i >= 0 && i < index.size(), index.source, ": sample ", i, " out of range [0, ",
             index.size(), ")");
  const SampleRef& ref = index.samples[static_cast<size_t>(i)];
  const std::string& file = index.files[static_cast<size_t>(ref.file)];
  const std::string& name = index.names[static_cast<size_t>(i)];
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  CM_REQUIRE(fd >= 0, name, ": cannot open ", file, " (", std::strerror(errno), ")");
  std::vector<uint8_t> bytes(static_cast<size_t>(ref.size));
  try {
    read_exact_at(fd, ref.offset, ref.size, bytes.data(), name);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return bytes;
}

}  // namespace clustermim
