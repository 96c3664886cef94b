/*
 * WebDataset grouping, brace lists and shard writing (see webdataset.h).
 */
#include "data/webdataset.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "core/error.h"
#include "data/sample_index.h"
#include "io/file_util.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxBraceNames = 10'000'000;
constexpr int64_t kMaxClsBytes = 32;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// The part of an extension after its last dot, lower case: "seg.PNG" -> "png".
std::string last_part(const std::string& ext) { return lower(ext.substr(ext.rfind('.') + 1)); }

bool is_image_extension(const std::string& ext) {
  const std::string last = last_part(ext);
  return last == "jpg" || last == "jpeg" || last == "png";
}

/// The decimal label in a `cls` member (surrounding whitespace allowed).
int64_t parse_label(const std::string& text, const std::string& where, const std::string& key) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  const bool digits = end > begin && end - begin <= 9 &&
                      std::all_of(text.begin() + begin, text.begin() + end,
                                  [](char c) { return c >= '0' && c <= '9'; });
  CM_REQUIRE(digits, where, ":", key, ".cls is not a decimal label >= 0");
  return std::stoll(text.substr(begin, end - begin));
}

/// A sample being gathered from adjacent members.
struct Pending {
  std::string key;
  bool has_image = false;
  ShardSample sample;
};

bool parse_number(const std::string& text, uint64_t& value) {
  if (text.empty() || text.size() > 18) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

}  // namespace

std::vector<ShardSample> group_shard_samples(const std::vector<TarMember>& members,
                                             const ReadAt& read, const std::string& where) {
  std::vector<ShardSample> samples;
  std::set<std::string> seen;
  Pending current;
  const auto flush = [&] {
    if (current.key.empty()) return;
    CM_REQUIRE(current.has_image, where, ":", current.key, " has no .jpg/.jpeg/.png member");
    samples.push_back(current.sample);
  };
  for (const TarMember& m : members) {
    const size_t slash = m.name.rfind('/');
    const size_t base = slash == std::string::npos ? 0 : slash + 1;
    const size_t dot = m.name.find('.', base);
    if (dot == std::string::npos || dot == base) continue;  // no extension, or a hidden file
    const std::string key = m.name.substr(0, dot), ext = m.name.substr(dot + 1);
    if (key != current.key) {
      flush();
      CM_REQUIRE(seen.insert(key).second, where, ": the members of sample ", key,
                 " are not adjacent (", m.name, " comes after another sample's)");
      current = Pending{key, false, ShardSample{key, 0, 0, -1}};
    }
    if (is_image_extension(ext)) {
      CM_REQUIRE(!current.has_image, where, ":", key, " has two image members (", m.name, ")");
      current.has_image = true;
      current.sample.offset = m.offset;
      current.sample.size = m.size;
    } else if (last_part(ext) == "cls") {
      CM_REQUIRE(m.size <= kMaxClsBytes, where, ":", key, ".cls is not a decimal label >= 0");
      std::string text(static_cast<size_t>(m.size), '\0');
      read(m.offset, m.size, reinterpret_cast<uint8_t*>(text.data()));
      current.sample.label = parse_label(text, where, key);
    }
  }
  flush();
  return samples;
}

bool has_brace_range(const std::string& spec) {
  const size_t open = spec.find('{');
  return open != std::string::npos && spec.find("..", open) != std::string::npos &&
         spec.find('}', open) != std::string::npos;
}

std::vector<std::string> expand_braces(const std::string& spec) {
  const size_t open = spec.find('{');
  if (open == std::string::npos) return {spec};
  const size_t close = spec.find('}', open);
  const size_t dots = spec.find("..", open);
  CM_REQUIRE(close != std::string::npos && dots != std::string::npos && dots < close, spec,
             ": malformed shard list (expected {first..last}, e.g. train-{000000..000146}.tar)");
  const std::string a = spec.substr(open + 1, dots - open - 1);
  const std::string b = spec.substr(dots + 2, close - dots - 2);
  uint64_t first = 0, last = 0;
  CM_REQUIRE(parse_number(a, first) && parse_number(b, last) && first <= last, spec,
             ": malformed shard list {", a, "..", b, "} (expected {first..last}, first <= last)");
  const bool pad = (a.size() > 1 && a[0] == '0') || (b.size() > 1 && b[0] == '0');
  const size_t width = pad ? std::max(a.size(), b.size()) : 0;
  const std::vector<std::string> rest = expand_braces(spec.substr(close + 1));
  CM_REQUIRE(last - first < kMaxBraceNames && (last - first + 1) * rest.size() <= kMaxBraceNames,
             spec, ": the shard list names over ", kMaxBraceNames, " files");
  std::vector<std::string> names;
  names.reserve((last - first + 1) * rest.size());
  for (uint64_t n = first; n <= last; ++n) {
    std::string number = std::to_string(n);
    if (number.size() < width) number.insert(0, width - number.size(), '0');
    for (const std::string& tail : rest) names.push_back(spec.substr(0, open) + number + tail);
  }
  return names;
}

ShardSummary write_shards(const std::string& out_dir, const std::string& split,
                          const std::vector<std::string>& classes, int64_t count,
                          int64_t shard_size, const std::function<EncodedSample(int64_t)>& sample) {
  CM_REQUIRE(shard_size > 0, "shard size must be at least 1, got ", shard_size);
  CM_REQUIRE(count > 0, out_dir, ": no samples to write");
  const fs::path dir = fs::path(out_dir) / split;
  make_dirs(dir.string());
  ShardSummary summary;
  for (int64_t first = 0; first < count; first += shard_size) {
    char name[64];
    std::snprintf(name, sizeof(name), "-%06lld.tar", static_cast<long long>(first / shard_size));
    const std::string path = (dir / (split + name)).string();
    const std::string temp = path + ".tmp-" + std::to_string(::getpid());
    try {
      TarWriter writer(temp);
      for (int64_t i = first; i < std::min(count, first + shard_size); ++i) {
        const EncodedSample s = sample(i);
        CM_CHECK(classes.empty() ? s.label < 0 : s.label >= 0 && s.label < int64_t(classes.size()));
        char key[32];
        std::snprintf(key, sizeof(key), "%09lld", static_cast<long long>(i));
        const bool png = s.bytes.size() >= 4 && s.bytes[0] == 0x89 && s.bytes[1] == 'P' &&
                         s.bytes[2] == 'N' && s.bytes[3] == 'G';
        writer.add(std::string(key) + (png ? ".png" : ".jpg"), s.bytes.data(), s.bytes.size());
        if (s.label >= 0) {
          const std::string label = std::to_string(s.label);
          writer.add(std::string(key) + ".cls", label.data(), label.size());
        }
      }
      writer.finish();
      std::error_code ec;
      fs::rename(temp, path, ec);
      CM_REQUIRE(!ec, path, ": cannot rename the finished shard into place (", ec.message(), ")");
    } catch (...) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw;
    }
    summary.shards.push_back(path);
  }
  summary.samples = count;
  if (!classes.empty()) {
    std::string text;
    for (const std::string& c : classes) text += c + "\n";
    summary.classes_file = (dir / "classes.txt").string();
    write_file_atomic(summary.classes_file, text);
  }
  return summary;
}

ShardSummary shard_source(const std::string& spec, const std::string& split,
                          const std::string& out_dir, int64_t shard_size,
                          const DatasetOptions& options) {
  if (is_sample_source(spec)) {
    const SampleIndex index = index_samples(spec, split, IndexOptions{options.cache_dir});
    return write_shards(out_dir, split, index.classes, index.size(), shard_size, [&](int64_t i) {
      return EncodedSample{read_sample(index, i), index.samples[static_cast<size_t>(i)].label};
    });
  }
  const Dataset d = load_dataset(spec, split, options);
  return write_shards(out_dir, split, d.classes, d.size(), shard_size, [&](int64_t i) {
    const cv::Mat rgb(static_cast<int>(d.height), static_cast<int>(d.width),
                      d.channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t*>(d.image(i)));
    cv::Mat bgr = rgb;
    if (d.channels == 3) cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uint8_t> png;
    CM_REQUIRE(cv::imencode(".png", bgr, png), d.source, ": cannot encode image ", i, " as PNG");
    return EncodedSample{std::move(png), d.labels[static_cast<size_t>(i)]};
  });
}

}  // namespace clustermim
