/*
 * Tar trees, WebDataset shards and .tar.gz copies for index_samples (see sample_index_sources.h).
 */
#include "data/sample_index_sources.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "data/archive.h"
#include "data/image_folder_reader.h"
#include "data/tar_index.h"
#include "data/webdataset.h"
#include "io/file_util.h"

namespace clustermim {

namespace fs = std::filesystem;

bool is_split_name(const std::string& s) { return s == "train" || s == "test" || s == "val"; }

std::string absolute_path(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

std::string resolve_split(const std::string& where, const std::string& split,
                          const std::function<bool(const std::string&)>& has) {
  if (has(split) || split != "test" || !has("val")) return split;
  spdlog::info("{}: no test split, reading val as the test split", where);
  return "val";
}

namespace {

/// A tar member of an image-folder tree: "[top/]split/class/.../image".
struct TreeMember {
  std::string top, split, label;
  const TarMember* member = nullptr;
};

/// The lines of a classes.txt (a trailing empty line and '\r' allowed).
std::vector<std::string> read_classes_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  std::vector<std::string> classes;
  std::string line;
  for (size_t i = 0; i <= bytes.size(); ++i) {
    if (i < bytes.size() && bytes[i] != '\n') {
      line += static_cast<char>(bytes[i]);
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (i == bytes.size() && line.empty()) break;
    CM_REQUIRE(!line.empty(), path, ": empty class name on line ", classes.size() + 1);
    classes.push_back(line);
    line.clear();
  }
  CM_REQUIRE(!classes.empty(), path, ": no class names");
  return classes;
}

}  // namespace

void index_tar_tree(const std::string& tar, const std::string& display, const std::string& split,
                    SampleIndex& index) {
  const std::vector<TarMember> members = list_tar_file(tar);
  std::vector<TreeMember> tree;
  std::set<std::string> tops, splits, classes;
  for (const TarMember& m : members) {
    std::vector<std::string> parts;
    for (const fs::path& part : fs::path(m.name)) parts.push_back(part.string());
    const size_t at = parts.size() >= 3 && is_split_name(parts[0])   ? 0
                      : parts.size() >= 4 && is_split_name(parts[1]) ? 1
                                                                     : parts.size();
    if (at == parts.size() || !is_image_file_name(parts.back()) || parts[at + 1][0] == '.')
      continue;
    tree.push_back({at == 1 ? parts[0] : "", parts[at], parts[at + 1], &m});
    tops.insert(tree.back().top);
    splits.insert(tree.back().split);
    classes.insert(tree.back().label);
  }
  CM_REQUIRE(!tree.empty(), display,
             ": no [top/]<split>/<class>/<image> members (expected an image-folder tree, e.g. "
             "train/<class>/<image>.jpg)");
  CM_REQUIRE(tops.size() == 1, display, ": images under several top folders (", *tops.begin(),
             "/, ", *std::next(tops.begin()), "/)");
  index.split =
      resolve_split(display, split, [&](const std::string& s) { return splits.count(s) > 0; });
  std::string present;
  for (const std::string& s : splits) present += (present.empty() ? "" : ", ") + s + "/";
  CM_REQUIRE(splits.count(index.split), display, ": no ", index.split, "/ folder inside (it has ",
             present, ")");
  index.classes.assign(classes.begin(), classes.end());
  std::map<std::string, int32_t> label_of;
  for (size_t i = 0; i < index.classes.size(); ++i)
    label_of[index.classes[i]] = static_cast<int32_t>(i);
  std::vector<std::pair<int32_t, const TarMember*>> chosen;
  for (const TreeMember& t : tree) {
    if (t.split == index.split) chosen.emplace_back(label_of.at(t.label), t.member);
  }
  std::sort(chosen.begin(), chosen.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second->name) < std::tie(b.first, b.second->name);
  });
  index.files = {absolute_path(tar)};
  for (const auto& [label, m] : chosen) {
    index.samples.push_back({0, m->offset, m->size, label});
    index.names.push_back(display + ":" + m->name);
  }
}

void index_shards(const std::vector<std::string>& shards, const std::string& classes_dir,
                  SampleIndex& index) {
  std::vector<int64_t> labels;
  index.files = shards;
  for (size_t f = 0; f < shards.size(); ++f) {
    const std::string& shard = shards[f];
    const int fd = ::open(shard.c_str(), O_RDONLY | O_CLOEXEC);
    CM_REQUIRE(fd >= 0, shard, ": cannot open (", std::strerror(errno), ")");
    std::vector<ShardSample> samples;
    try {
      const ReadAt read = [&](int64_t offset, int64_t n, uint8_t* out) {
        read_exact_at(fd, offset, n, out, shard);
      };
      samples = group_shard_samples(
          list_tar_members(read, static_cast<int64_t>(fs::file_size(shard)), shard), read, shard);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    for (const ShardSample& s : samples) {
      index.samples.push_back({static_cast<int32_t>(f), s.offset, s.size, -1});
      index.names.push_back(shard + ":" + s.key);
      labels.push_back(s.label);
    }
  }
  CM_REQUIRE(index.size() > 0, shards.front(), ": no samples in the shards");
  const auto unlabeled = std::find(labels.begin(), labels.end(), -1);
  if (std::all_of(labels.begin(), labels.end(), [](int64_t l) { return l < 0; })) return;
  CM_REQUIRE(unlabeled == labels.end(), index.names[unlabeled - labels.begin()],
             " has no .cls member while other samples have one");
  const std::string classes_file = (fs::path(classes_dir) / "classes.txt").string();
  const int64_t max_label = *std::max_element(labels.begin(), labels.end());
  if (fs::exists(classes_file)) {
    index.classes = read_classes_file(classes_file);
  } else {
    for (int64_t c = 0; c <= max_label; ++c) index.classes.push_back(std::to_string(c));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    CM_REQUIRE(labels[i] < static_cast<int64_t>(index.classes.size()), index.names[i], ": label ",
               labels[i], " is out of range for the ", index.classes.size(), " classes of ",
               classes_file);
    index.samples[i].label = static_cast<int32_t>(labels[i]);
  }
}

std::string unpacked_tar(const std::string& gz, const std::string& dir, const std::string& key) {
  CM_REQUIRE(!dir.empty(), gz,
             ": a .tar.gz is read through a plain copy in the cache folder, and caching is off "
             "(cache folder \"none\"); unpack it with gunzip or pass a cache folder");
  const std::string path = (fs::path(dir) / (archive_stem(gz) + "-" + key + ".tar")).string();
  if (fs::exists(path)) return path;
  make_dirs(dir);
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  gzFile in = gzopen(gz.c_str(), "rb");
  CM_REQUIRE(in != nullptr, gz, ": cannot open (", std::strerror(errno), ")");
  std::FILE* out = std::fopen(temp.c_str(), "wb");
  std::vector<char> buffer(1 << 20);
  std::string error = out ? "" : temp + ": cannot create (" + std::strerror(errno) + ")";
  while (error.empty()) {
    const int n = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    int code = 0;
    if (n < 0) error = gz + ": corrupt gzip stream (" + gzerror(in, &code) + ")";
    if (n <= 0) break;
    if (std::fwrite(buffer.data(), 1, static_cast<size_t>(n), out) != static_cast<size_t>(n))
      error = temp + ": write failed (" + std::strerror(errno) + ")";
  }
  gzclose(in);
  if (out != nullptr &&
      (std::fflush(out) != 0 || ::fsync(fileno(out)) != 0 || std::fclose(out) != 0))
    error = temp + ": write failed";
  std::error_code ec;
  if (error.empty()) fs::rename(temp, path, ec);
  if (!error.empty() || ec) {
    fs::remove(temp, ec);
    fail(error.empty() ? path + ": cannot rename the unpacked archive into place" : error);
  }
  spdlog::info("unpacked {} to {} ({} MB)", gz, path, fs::file_size(path) >> 20);
  return path;
}

}  // namespace clustermim
