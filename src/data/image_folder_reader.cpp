/*
 * Image folders and archives -> Dataset (see image_folder_reader.h).
 *
 * Two stages: gather the split's images (paths on disk, or bytes from one archive pass) in
 * class-then-name order, then decode them on `threads` workers into per-image cv::Mats and
 * copy those into the flat [N, H, W, C] array once the common shape and channel count are known.
 */
#include "data/image_folder_reader.h"

#include <spdlog/spdlog.h>
#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <thread>
#include <tuple>

#include "core/error.h"
#include "data/archive.h"
#include "io/file_util.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxWarnings = 20;

/// One image to decode: bytes already in memory (archives) or a file to read (folders).
struct ImageSource {
  std::string name;  ///< for warnings: the file path, or "archive:entry"
  int32_t label = 0;
  std::string file;  ///< read from here when non-empty
  std::vector<uint8_t> bytes;
};

/// One decoded image, or why it could not be decoded.
struct Decoded {
  cv::Mat image;  ///< CV_8UC1 or CV_8UC3 (RGB), continuous
  std::string error;
};

using TjHandle = std::unique_ptr<void, decltype(&tjDestroy)>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Resizes the shorter side to `size` (INTER_AREA down, INTER_CUBIC up), then center-crops.
cv::Mat resize_and_crop(const cv::Mat& image, int size) {
  if (image.rows == size && image.cols == size) return image;
  const int shorter = std::min(image.rows, image.cols);
  cv::Mat resized = image;
  if (shorter != size) {
    const double scale = static_cast<double>(size) / shorter;
    const cv::Size target(std::max(size, static_cast<int>(std::lround(image.cols * scale))),
                          std::max(size, static_cast<int>(std::lround(image.rows * scale))));
    cv::resize(image, resized, target, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  }
  const cv::Rect crop((resized.cols - size) / 2, (resized.rows - size) / 2, size, size);
  return resized(crop).clone();
}

/// The TurboJPEG scaling factor that shrinks w x h the most while the shorter side stays >= target.
tjscalingfactor jpeg_scale(int width, int height, int target) {
  tjscalingfactor best{1, 1};
  if (target <= 0) return best;
  int count = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&count);
  for (int i = 0; i < count; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;
    const int shorter = std::min(TJSCALED(width, f), TJSCALED(height, f));
    if (shorter >= target && shorter < std::min(TJSCALED(width, best), TJSCALED(height, best)))
      best = f;
  }
  return best;
}

bool has_jpeg_magic(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
}

/// Reports a TurboJPEG failure and replaces the handle: a libjpeg-turbo 2.1 handle can report
/// success with a 0x0 size on the call after a failed one.
Decoded jpeg_failure(TjHandle& tj, const char* what) {
  Decoded failed{cv::Mat(), std::string(what) + " (" + tjGetErrorStr2(tj.get()) + ")"};
  tj.reset(tjInitDecompress());
  return failed;
}

/// Decodes a JPEG with TurboJPEG (warnings count as errors), scaled down by a DCT factor when
/// `target` allows. nullopt for CMYK JPEGs, which the caller hands to OpenCV instead.
std::optional<Decoded> decode_jpeg(TjHandle& tj, const std::vector<uint8_t>& bytes, int target) {
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  const bool header_ok = tjDecompressHeader3(tj.get(), bytes.data(), size, &width, &height,
                                             &subsamp, &colorspace) == 0;
  if (!header_ok || width <= 0 || height <= 0) return jpeg_failure(tj, "corrupt JPEG header");
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) return std::nullopt;
  const tjscalingfactor scale = jpeg_scale(width, height, target);
  const bool gray = colorspace == TJCS_GRAY;
  cv::Mat image(TJSCALED(height, scale), TJSCALED(width, scale), gray ? CV_8UC1 : CV_8UC3);
  if (tjDecompress2(tj.get(), bytes.data(), size, image.data, image.cols, 0, image.rows,
                    gray ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
    return jpeg_failure(tj, "corrupt JPEG");
  }
  return Decoded{image, ""};
}

/// Decodes PNG and anything else OpenCV reads; gray stays 1 channel, colour becomes RGB.
Decoded decode_other(const std::vector<uint8_t>& bytes) {
  const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
  cv::Mat image = cv::imdecode(raw, cv::IMREAD_ANYCOLOR);
  if (image.empty()) return {cv::Mat(), "not a decodable image"};
  if (image.channels() == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  return {image, ""};
}

Decoded decode_source(TjHandle& tj, ImageSource& source, int target) {
  try {
    const std::vector<uint8_t> bytes =
        source.file.empty() ? std::move(source.bytes) : read_file_bytes(source.file);
    if (bytes.empty()) return {cv::Mat(), "empty file"};
    std::optional<Decoded> decoded;
    if (has_jpeg_magic(bytes)) decoded = decode_jpeg(tj, bytes, target);
    Decoded result = decoded ? std::move(*decoded) : decode_other(bytes);
    if (!result.image.empty() && target > 0) result.image = resize_and_crop(result.image, target);
    return result;
  } catch (const std::exception& e) {
    return {cv::Mat(), e.what()};
  }
}

/// Decodes every source on `threads` workers; result i belongs to source i.
std::vector<Decoded> decode_all(std::vector<ImageSource>& sources, int threads, int target) {
  std::vector<Decoded> results(sources.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    TjHandle tj(tjInitDecompress(), &tjDestroy);
    for (size_t i; (i = next.fetch_add(1)) < sources.size();) {
      results[i] = decode_source(tj, sources[i], target);
    }
  };
  const size_t wanted = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (size_t t = 0; t < std::min(wanted, sources.size()); ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  return results;
}

/// Logs the skipped images (the first few by name) and returns how many there were.
int64_t report_skipped(const std::vector<ImageSource>& sources,
                       const std::vector<Decoded>& results) {
  int64_t skipped = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].image.empty() && ++skipped <= kMaxWarnings) {
      spdlog::warn("{}: skipped ({})", sources[i].name, results[i].error);
    }
  }
  if (skipped > kMaxWarnings) spdlog::warn("... {} undecodable images skipped in all", skipped);
  return skipped;
}

/// Decodes `sources` (already in output order) into a dataset with the given classes.
Dataset decode_images(std::vector<ImageSource> sources, std::vector<std::string> classes,
                      const std::string& where, const DatasetOptions& options) {
  CM_REQUIRE(!sources.empty(), where, ": no .jpg/.jpeg/.png images found");
  std::vector<Decoded> results = decode_all(sources, options.threads, options.image_size);
  Dataset d;
  d.classes = std::move(classes);
  d.skipped = report_skipped(sources, results);
  const auto first = std::find_if(results.begin(), results.end(),
                                  [](const Decoded& r) { return !r.image.empty(); });
  CM_REQUIRE(first != results.end(), where, ": none of the ", sources.size(),
             " images could be decoded");
  const std::string& first_name = sources[first - results.begin()].name;
  d.height = first->image.rows;
  d.width = first->image.cols;
  const bool all_gray = std::all_of(results.begin(), results.end(), [](const Decoded& r) {
    return r.image.empty() || r.image.channels() == 1;
  });
  d.channels = all_gray ? 1 : 3;
  d.pixels.reserve(static_cast<size_t>((sources.size() - d.skipped) * d.image_bytes()));
  for (size_t i = 0; i < results.size(); ++i) {
    cv::Mat& image = results[i].image;
    if (image.empty()) continue;
    CM_REQUIRE(image.rows == d.height && image.cols == d.width, where, ": images differ in size (",
               d.width, "x", d.height, " in ", first_name, ", ", image.cols, "x", image.rows,
               " in ", sources[i].name, "); pass an image size to resize them");
    if (image.channels() < d.channels) cv::cvtColor(image, image, cv::COLOR_GRAY2RGB);
    d.pixels.insert(d.pixels.end(), image.data, image.data + d.image_bytes());
    d.labels.push_back(sources[i].label);
    image.release();
  }
  return d;
}

/// Sorted visible subfolder names of `dir` (empty when it does not exist).
std::vector<std::string> sorted_subfolders(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::is_directory(dir)) return names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name[0] != '.') names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// Sorted image file names directly inside `dir`.
std::vector<std::string> sorted_image_files(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && is_image_file_name(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

bool is_image_file_name(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  const std::string ext = lower(fs::path(name).extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::optional<ImageEntryPath> parse_image_entry(const std::string& path) {
  std::vector<std::string> parts;
  for (const fs::path& part : fs::path(path)) parts.push_back(part.string());
  const auto is_split = [](const std::string& s) { return s == "train" || s == "test"; };
  std::optional<ImageEntryPath> entry;
  if (parts.size() == 3 && is_split(parts[0]))
    entry = ImageEntryPath{"", parts[0], parts[1], parts[2]};
  if (parts.size() == 4 && is_split(parts[1]))
    entry = ImageEntryPath{parts[0], parts[1], parts[2], parts[3]};
  if (entry &&
      (entry->label.empty() || entry->label[0] == '.' || !is_image_file_name(entry->file))) {
    return std::nullopt;
  }
  return entry;
}

bool is_image_folder(const std::string& folder) {
  return fs::is_directory(fs::path(folder) / "train") ||
         fs::is_directory(fs::path(folder) / "test");
}

Dataset read_image_folder(const std::string& root, const std::string& split,
                          const DatasetOptions& options) {
  const fs::path split_dir = fs::path(root) / split;
  CM_REQUIRE(fs::is_directory(split_dir), root, ": no ", split, "/ folder");
  std::set<std::string> class_set;
  for (const char* s : {"train", "test"}) {
    for (const std::string& name : sorted_subfolders(fs::path(root) / s)) class_set.insert(name);
  }
  const std::vector<std::string> classes(class_set.begin(), class_set.end());
  std::vector<ImageSource> sources;
  for (size_t label = 0; label < classes.size(); ++label) {
    const fs::path class_dir = split_dir / classes[label];
    if (!fs::is_directory(class_dir)) continue;
    for (const std::string& file : sorted_image_files(class_dir)) {
      const std::string path = (class_dir / file).string();
      sources.push_back({path, static_cast<int32_t>(label), path, {}});
    }
  }
  return decode_images(std::move(sources), classes, split_dir.string(), options);
}

Dataset read_image_archive(const std::string& path, const std::string& split,
                           const DatasetOptions& options) {
  std::set<std::string> tops, class_set;
  std::vector<ArchiveEntry> entries = read_archive(path, [&](const std::string& entry_path) {
    const std::optional<ImageEntryPath> entry = parse_image_entry(entry_path);
    if (!entry) return false;
    tops.insert(entry->top);
    class_set.insert(entry->label);
    return entry->split == split;
  });
  CM_REQUIRE(tops.size() <= 1, path, ": images under several top folders (", *tops.begin(), "/, ",
             *std::next(tops.begin()), "/); expected [top/]{train,test}/<class>/<image>");
  const std::vector<std::string> classes(class_set.begin(), class_set.end());
  std::map<std::string, int32_t> label_of;
  for (size_t i = 0; i < classes.size(); ++i) label_of[classes[i]] = static_cast<int32_t>(i);
  std::vector<ImageSource> sources;
  std::vector<std::string> files;
  for (ArchiveEntry& e : entries) {
    const ImageEntryPath entry = *parse_image_entry(e.path);
    sources.push_back({path + ":" + e.path, label_of.at(entry.label), "", std::move(e.data)});
    files.push_back(entry.file);
  }
  std::vector<size_t> order(sources.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(sources[a].label, files[a]) < std::tie(sources[b].label, files[b]);
  });
  std::vector<ImageSource> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.push_back(std::move(sources[i]));
  return decode_images(std::move(sorted), classes, path + ":" + split + "/", options);
}

}  // namespace clustermim
