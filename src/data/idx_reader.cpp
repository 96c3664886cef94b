/*
 * IDX parsing and gzip inflation (see idx_reader.h).
 */
#include "data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/archive.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr int64_t kMaxSide = 4096;

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

/// The gzip trailer's ISIZE (uncompressed size mod 2^32), used only to size the first buffer.
/// Capped at 16x the compressed size: a truncated file's "trailer" is arbitrary bytes.
size_t gzip_size_hint(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 18) return 0;
  const uint8_t* p = bytes.data() + bytes.size() - 4;
  const size_t isize =
      uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
  return std::min(isize, 16 * bytes.size());
}

/// Inflates every gzip member of `in`; throws naming `name` on corrupt or truncated data.
std::vector<uint8_t> inflate_gzip(const std::vector<uint8_t>& in, const std::string& name) {
  z_stream zs{};
  CM_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK);
  std::vector<uint8_t> out(std::max<size_t>(gzip_size_hint(in), 1 << 16));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  size_t produced = 0;
  for (;;) {
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
    const uInt before = zs.avail_out;
    const int r = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (r == Z_STREAM_END && zs.avail_in == 0) break;
    if (r == Z_STREAM_END) {  // another gzip member follows
      inflateReset(&zs);
      continue;
    }
    if (r != Z_OK && !(r == Z_BUF_ERROR && zs.avail_out == 0)) {
      const std::string why =
          r == Z_BUF_ERROR ? "truncated gzip data" : (zs.msg ? zs.msg : "corrupt gzip data");
      inflateEnd(&zs);
      fail(name, ": ", why);
    }
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

/// `folder/name.gz` when present, else `folder/name`; throws naming both when neither exists.
std::string find_idx_file(const std::string& folder, const std::string& name) {
  const std::filesystem::path base = std::filesystem::path(folder) / name;
  for (const std::string& candidate : {base.string() + ".gz", base.string()}) {
    if (std::filesystem::is_regular_file(candidate)) return candidate;
  }
  fail(folder, ": missing ", name, ".gz (or ", name, ")");
}

}  // namespace

std::vector<uint8_t> gunzip_if_gzip(std::vector<uint8_t> bytes, const std::string& name) {
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return inflate_gzip(bytes, name);
  return bytes;
}

IdxImages parse_idx_images(const std::vector<uint8_t>& bytes, const std::string& name) {
  CM_REQUIRE(bytes.size() >= 16, name, ": too short for an IDX image header (", bytes.size(),
             " bytes)");
  const uint32_t magic = read_be32(bytes.data());
  CM_REQUIRE(magic == kImagesMagic, name, ": not an IDX u8 image file (magic 0x", std::hex, magic,
             ", expected 0x803)");
  IdxImages images;
  images.count = read_be32(bytes.data() + 4);
  images.rows = read_be32(bytes.data() + 8);
  images.cols = read_be32(bytes.data() + 12);
  CM_REQUIRE(
      images.rows >= 1 && images.rows <= kMaxSide && images.cols >= 1 && images.cols <= kMaxSide,
      name, ": implausible image size ", images.rows, "x", images.cols);
  const int64_t expected = images.count * images.rows * images.cols;
  const int64_t found = static_cast<int64_t>(bytes.size()) - 16;
  CM_REQUIRE(found == expected, name, ": header says ", images.count, " images of ", images.rows,
             "x", images.cols, " (", expected, " bytes) but the file holds ", found,
             " bytes (truncated?)");
  images.pixels.assign(bytes.begin() + 16, bytes.end());
  return images;
}

std::vector<int32_t> parse_idx_labels(const std::vector<uint8_t>& bytes, const std::string& name,
                                      int num_classes) {
  CM_REQUIRE(bytes.size() >= 8, name, ": too short for an IDX label header (", bytes.size(),
             " bytes)");
  const uint32_t magic = read_be32(bytes.data());
  CM_REQUIRE(magic == kLabelsMagic, name, ": not an IDX u8 label file (magic 0x", std::hex, magic,
             ", expected 0x801)");
  const int64_t count = read_be32(bytes.data() + 4);
  const int64_t found = static_cast<int64_t>(bytes.size()) - 8;
  CM_REQUIRE(found == count, name, ": header says ", count, " labels but the file holds ", found,
             " (truncated?)");
  std::vector<int32_t> labels(bytes.begin() + 8, bytes.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    CM_REQUIRE(labels[i] < num_classes, name, ": label ", labels[i], " at index ", i,
               " is out of range (", num_classes, " classes)");
  }
  return labels;
}

std::vector<std::string> idx_class_names(bool fashion) {
  if (fashion) {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
}

std::string idx_file_name(const std::string& split, bool images) {
  const std::string prefix = split == "train" ? "train" : "t10k";
  return prefix + (images ? "-images-idx3-ubyte" : "-labels-idx1-ubyte");
}

Dataset make_idx_dataset(std::vector<uint8_t> image_bytes, const std::string& image_name,
                         std::vector<uint8_t> label_bytes, const std::string& label_name,
                         bool fashion) {
  Dataset d;
  d.classes = idx_class_names(fashion);
  IdxImages images =
      parse_idx_images(gunzip_if_gzip(std::move(image_bytes), image_name), image_name);
  d.labels = parse_idx_labels(gunzip_if_gzip(std::move(label_bytes), label_name), label_name,
                              static_cast<int>(d.classes.size()));
  CM_REQUIRE(images.count == d.size(), image_name, ": ", images.count, " images but ", label_name,
             " has ", d.size(), " labels");
  d.height = images.rows;
  d.width = images.cols;
  d.channels = 1;
  d.pixels = std::move(images.pixels);
  return d;
}

Dataset read_idx_folder(const std::string& folder, const std::string& split, bool fashion) {
  const std::string image_path = find_idx_file(folder, idx_file_name(split, true));
  const std::string label_path = find_idx_file(folder, idx_file_name(split, false));
  return make_idx_dataset(read_file_bytes(image_path), image_path, read_file_bytes(label_path),
                          label_path, fashion);
}

Dataset read_idx_archive(const std::string& path, const std::string& split, bool fashion) {
  const std::string image_name = idx_file_name(split, true);
  const std::string label_name = idx_file_name(split, false);
  const auto base = [](const std::string& entry) {
    const std::string name = std::filesystem::path(entry).filename().string();
    return name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0
               ? name.substr(0, name.size() - 3)
               : name;
  };
  std::vector<ArchiveEntry> entries = read_archive(path, [&](const std::string& entry) {
    return base(entry) == image_name || base(entry) == label_name;
  });
  const auto find = [&](const std::string& name) -> ArchiveEntry& {
    const auto it = std::find_if(entries.begin(), entries.end(),
                                 [&](const ArchiveEntry& e) { return base(e.path) == name; });
    CM_REQUIRE(it != entries.end(), path, ": missing ", name, "[.gz]");
    return *it;
  };
  ArchiveEntry& images = find(image_name);
  ArchiveEntry& labels = find(label_name);
  return make_idx_dataset(std::move(images.data), path + ":" + images.path, std::move(labels.data),
                          path + ":" + labels.path, fashion);
}

}  // namespace clustermim
