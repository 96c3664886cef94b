/*
 * The archive-backed parts of index_samples (sample_index.cpp): image-folder trees inside a tar,
 * WebDataset shards, and the plain copy of a .tar.gz in the cache folder; plus the small rules
 * both files share (split names, the test -> val fallback). Internal to src/data.
 */
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/sample_index.h"

namespace clustermim {

/// True for "train", "test" and "val", the split folder names of image trees.
bool is_split_name(const std::string& s);

/// `path` made absolute and lexically normal (symlinks kept).
std::string absolute_path(const std::string& path);

/// `split`, or "val" for a missing "test" when `has("val")` (ImageNet's layout), logged with
/// `where`.
std::string resolve_split(const std::string& where, const std::string& split,
                          const std::function<bool(const std::string&)>& has);

/// Indexes split `split` (test -> val fallback; index.split says which) of the image-folder tree
/// `[top/]<split>/<class>/.../<image>` inside the plain tar `tar`, reading its headers only;
/// classes are the class folders of every split, sorted; samples by class, then member path.
/// `display` names the archive in messages and sample names ("display:member").
void index_tar_tree(const std::string& tar, const std::string& display, const std::string& split,
                    SampleIndex& index);

/// Indexes WebDataset `shards` in order (see webdataset.h); classes are the lines of
/// `classes_dir`/classes.txt when it exists, else "0".."largest label"; unlabeled when no sample
/// has a `cls` member.
void index_shards(const std::vector<std::string>& shards, const std::string& classes_dir,
                  SampleIndex& index);

/// The plain tar of the .tar.gz `gz` in the cache folder `dir` ("<stem>-<key>.tar"), unpacked
/// now (temp file + rename) when missing. Throws Error when `dir` is "" (caching off).
std::string unpacked_tar(const std::string& gz, const std::string& dir, const std::string& key);

}  // namespace clustermim
