/*
 * Decoded-dataset cache files (see dataset_cache.h).
 */
#include "data/dataset_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/tensor_file.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

const char* const kMagic = "CMDS";

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

/// Moves the tensor called `name` out of `file`, checking dtype and rank.
TensorRecord take_tensor(TensorFile& file, const std::string& name, DType dtype, size_t rank) {
  const auto it = std::find_if(file.tensors.begin(), file.tensors.end(),
                               [&](const TensorRecord& t) { return t.name == name; });
  CM_REQUIRE(it != file.tensors.end(), file.source, ": no tensor '", name, "'");
  CM_REQUIRE(it->dtype == dtype && it->shape.size() == rank, file.source, ": tensor '", name,
             "' has the wrong dtype or rank");
  return std::move(*it);
}

/// Rebuilds a Dataset from a loaded file; throws Error on any inconsistency.
Dataset dataset_from_file(TensorFile file, const std::string& key) {
  CM_REQUIRE(file.meta.value("key", "") == key, file.source, ": written for another source (key ",
             file.meta.value("key", ""), ", expected ", key, ")");
  TensorRecord images = take_tensor(file, "images", DType::U8, 4);
  TensorRecord labels = take_tensor(file, "labels", DType::I32, 1);
  Dataset d;
  d.name = file.meta.at("name").get<std::string>();
  d.split = file.meta.at("split").get<std::string>();
  d.source = file.meta.at("source").get<std::string>();
  d.classes = file.meta.at("classes").get<std::vector<std::string>>();
  d.skipped = file.meta.at("skipped").get<int64_t>();
  d.height = images.shape[1];
  d.width = images.shape[2];
  d.channels = images.shape[3];
  CM_REQUIRE(images.shape[0] == labels.shape[0] && (d.channels == 1 || d.channels == 3),
             file.source, ": inconsistent image and label tensors");
  d.labels.resize(static_cast<size_t>(labels.shape[0]));
  std::memcpy(d.labels.data(), labels.data.data(), labels.data.size());
  const bool labels_ok = std::all_of(d.labels.begin(), d.labels.end(),
                                     [&](int32_t l) { return l >= 0 && l < d.num_classes(); });
  CM_REQUIRE(labels_ok, file.source, ": label out of range");
  d.pixels = std::move(images.data);
  return d;
}

}  // namespace

std::string resolve_cache_dir(const std::string& option) {
  if (option == "none") return "";
  if (!option.empty()) return option;
  if (!env_or_empty("CLUSTERMIM_CACHE").empty()) return env_or_empty("CLUSTERMIM_CACHE");
  if (!env_or_empty("XDG_CACHE_HOME").empty())
    return env_or_empty("XDG_CACHE_HOME") + "/clustermim";
  CM_REQUIRE(
      !env_or_empty("HOME").empty(),
      "no dataset cache folder: set CLUSTERMIM_CACHE or HOME, or pass cache folder \"none\"");
  return env_or_empty("HOME") + "/.cache/clustermim";
}

std::string dataset_cache_path(const std::string& dir, const std::string& name,
                               const std::string& split, int image_size, const std::string& key) {
  const std::string size = image_size > 0 ? std::to_string(image_size) : "native";
  return (fs::path(dir) / (name + "-" + split + "-" + size + "-" + key + ".cmds")).string();
}

std::optional<Dataset> load_dataset_cache(const std::string& path, const std::string& key) {
  if (!fs::exists(path)) return std::nullopt;
  try {
    return dataset_from_file(load_tensor_file(path, kMagic), key);
  } catch (const std::exception& e) {
    spdlog::warn("ignoring dataset cache {}: {}", path, e.what());
    return std::nullopt;
  }
}

void save_dataset_cache(const std::string& path, const Dataset& dataset, const std::string& key) {
  TensorFile file;
  file.magic = kMagic;
  file.meta = {{"name", dataset.name},       {"split", dataset.split},
               {"source", dataset.source},   {"classes", dataset.classes},
               {"skipped", dataset.skipped}, {"key", key}};
  file.add("images", DType::U8, {dataset.size(), dataset.height, dataset.width, dataset.channels},
           dataset.pixels.data());
  file.add("labels", DType::I32, {dataset.size()}, dataset.labels.data());
  save_tensor_file(path, file);
}

}  // namespace clustermim
