/*
 * Image-folder reader: `root/{train,test}/<class>/<image>.{jpg,jpeg,png}` in a folder or a tar
 * archive.
 *
 * The common way image datasets are shipped (torchvision's ImageFolder layout). Classes are the
 * class-folder names of both splits, sorted bytewise, so train and test agree on label ids even
 * when a split lacks a class. Images are decoded in parallel (JPEG with TurboJPEG, using its
 * DCT scaling when the target size is much smaller; PNG and the rest with OpenCV), optionally
 * resized (shorter side) and center-cropped, and gathered in a deterministic order: by class,
 * then by file name. Undecodable images are skipped with a warning and counted, never fed on.
 */
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace clustermim {

/// The parts of an image path "[top/]split/class/file" inside an image-folder tree.
struct ImageEntryPath {
  std::string top;    ///< the one optional folder above train/ and test/ ("" when none)
  std::string split;  ///< "train" or "test"
  std::string label;  ///< class folder name
  std::string file;   ///< file name
};

/// True for visible file names ending in .jpg, .jpeg or .png (any case).
bool is_image_file_name(const std::string& name);

/// Parses an archive entry path of an image-folder tree; nullopt for anything else.
std::optional<ImageEntryPath> parse_image_entry(const std::string& path);

/// True when `folder` has a train/ or test/ subfolder.
bool is_image_folder(const std::string& folder);

/// Reads split `split` of the image folder `root`: pixels [N, S, S, C] with S = options.image_size
/// (or the common native size when 0), C = 3 unless every image is grayscale.
Dataset read_image_folder(const std::string& root, const std::string& split,
                          const DatasetOptions& options);

/// Same for a .tar / .tar.gz / .tgz archive of such a tree (read in one streaming pass).
Dataset read_image_archive(const std::string& path, const std::string& split,
                           const DatasetOptions& options);

}  // namespace clustermim
