/*
 * CIFAR-10 binary reader ("cifar-10-batches-bin": data_batch_1..5.bin, test_batch.bin).
 *
 * Each record is 1 label byte followed by 3072 pixel bytes stored planar (1024 R, 1024 G,
 * 1024 B, each 32x32 row-major). Records are converted to the HWC layout every Dataset uses.
 * Sources are a folder (the batches themselves or a cifar-10-batches-bin/ inside it) or a tar
 * archive holding them. Class names come from batches.meta.txt when present.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace clustermim {

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarRecordBytes = 1 + 3 * kCifarSide * kCifarSide;  ///< 3073

/// Batch file names of a split: data_batch_1.bin..data_batch_5.bin or test_batch.bin.
std::vector<std::string> cifar_batch_names(const std::string& split);

/// Class names from batches.meta.txt (one per non-empty line); the official ten when `text` is
/// empty.
std::vector<std::string> cifar_class_names(const std::string& text);

/// Appends the records of one batch file to `dataset` (pixels [N, 32, 32, 3] HWC). Rejects sizes
/// that are not a multiple of 3073 and labels >= dataset.classes.size(); `name` names errors.
void append_cifar_batch(const std::vector<uint8_t>& bytes, const std::string& name,
                        Dataset& dataset);

/// The folder holding the batch files: `folder` itself or `folder`/cifar-10-batches-bin;
/// "" when neither has data_batch_1.bin or test_batch.bin.
std::string cifar_batch_dir(const std::string& folder);

/// Reads split `split` from a folder (see cifar_batch_dir).
Dataset read_cifar_folder(const std::string& folder, const std::string& split);

/// Reads split `split` from a tar archive holding the batch files (in any one folder).
Dataset read_cifar_archive(const std::string& path, const std::string& split);

}  // namespace clustermim
