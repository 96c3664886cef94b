/*
 * MNIST / Fashion-MNIST reader: the IDX format, raw or gzip-compressed.
 *
 * An IDX file is a big-endian header (magic 0x00000803 for u8 images [N, rows, cols],
 * 0x00000801 for u8 labels [N]) followed by the raw bytes. The files are small enough to decode
 * in well under a second, so they are read directly with no cache. Every header field is
 * validated against the byte length before anything is allocated, and errors name the file.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace clustermim {

/// The images of an IDX3 file.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  ///< [count, rows, cols]
};

/// Inflates `bytes` when they start with the gzip magic (1f 8b), else returns them unchanged.
/// `name` names the file in errors.
std::vector<uint8_t> gunzip_if_gzip(std::vector<uint8_t> bytes, const std::string& name);

/// Parses an (already inflated) IDX3 u8 image file.
IdxImages parse_idx_images(const std::vector<uint8_t>& bytes, const std::string& name);

/// Parses an (already inflated) IDX1 u8 label file -> [N]; every label must be < `num_classes`.
std::vector<int32_t> parse_idx_labels(const std::vector<uint8_t>& bytes, const std::string& name,
                                      int num_classes);

/// The ten Fashion-MNIST class names when `fashion`, else the digits "0".."9".
std::vector<std::string> idx_class_names(bool fashion);

/// File name of a split's images or labels without ".gz": "train-images-idx3-ubyte", ...
std::string idx_file_name(const std::string& split, bool images);

/// Builds a dataset (images [N, 28, 28, 1] for MNIST) from the bytes of an images file and a
/// labels file, each raw or gzipped. The names are used in errors.
Dataset make_idx_dataset(std::vector<uint8_t> image_bytes, const std::string& image_name,
                         std::vector<uint8_t> label_bytes, const std::string& label_name,
                         bool fashion);

/// Reads split `split` from a folder holding the IDX files (each raw or with .gz).
Dataset read_idx_folder(const std::string& folder, const std::string& split, bool fashion);

/// Reads split `split` from a tar archive holding the IDX files (in any folder).
Dataset read_idx_archive(const std::string& path, const std::string& split, bool fashion);

}  // namespace clustermim
