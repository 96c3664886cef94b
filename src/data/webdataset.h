/*
 * WebDataset shards: grouping tar members into samples, brace lists of shard names, and writing
 * shards.
 *
 * WebDataset (github.com/webdataset/webdataset) stores a dataset as plain tar shards of a few
 * hundred MB; a sample is the run of adjacent members sharing a key, the member path up to the
 * first dot of its file name ("a/b.c.jpg" has key "a/b" and extension "c.jpg"). clustermim reads,
 * per sample, one image member (extension jpg, jpeg or png, any case) and an optional `cls` member
 * holding the decimal label; the last dot-part of the extension decides ("c.jpg" is an image),
 * as WebDataset's decoders do. Other members (json, txt, ...) and members with no extension or
 * a hidden name are ignored.
 * Rules, each broken one an Error naming the shard and the key: a key must not come back after
 * another key's run (members do not group), a sample has exactly one image member, `cls` is a
 * decimal integer >= 0, and either every sample of a split has `cls` or none does.
 * Shard lists are written as in WebDataset: "root/train-{000000..000146}.tar", zero-padded to
 * the width of the bounds when either starts with 0.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/tar_index.h"

namespace clustermim {

/// One sample of a shard: where its image member's bytes are, and its label.
struct ShardSample {
  std::string key;     ///< the WebDataset key
  int64_t offset = 0;  ///< the image member's data, in the shard file
  int64_t size = 0;    ///< bytes
  int64_t label = -1;  ///< the `cls` member's value; -1 without one
};

/// Groups `members` (in archive order) into samples; reads each `cls` member through `read`.
/// Throws Error("<where>: ...") when the rules above are broken.
std::vector<ShardSample> group_shard_samples(const std::vector<TarMember>& members,
                                             const ReadAt& read, const std::string& where);

/// True when `spec` holds a brace range "{a..b}".
bool has_brace_range(const std::string& spec);

/// Expands every "{a..b}" of `spec` (a <= b, decimal) in order: "s-{08..10}.tar" ->
/// s-08.tar, s-09.tar, s-10.tar. Throws Error naming `spec` for a malformed or reversed range,
/// or more than 10 million names.
std::vector<std::string> expand_braces(const std::string& spec);

/// One encoded sample to write.
struct EncodedSample {
  std::vector<uint8_t> bytes;  ///< a JPEG or PNG file's bytes
  int32_t label = -1;          ///< written as KEY.cls when >= 0
};

/// What `write_shards` wrote.
struct ShardSummary {
  std::vector<std::string> shards;  ///< the shard paths, in order
  std::string classes_file;         ///< "" when the source is unlabeled
  int64_t samples = 0;
};

/// Writes `count` samples (sample(i) for i in [0, count)) as WebDataset shards
/// `<out_dir>/<split>/<split>-000000.tar`, ... of `shard_size` samples each: member KEY.jpg or
/// KEY.png (by the bytes' signature) and KEY.cls, KEY = the sample number in 9 digits. Writes
/// `<out_dir>/<split>/classes.txt` (one name per line) when `classes` is non-empty. Every file
/// goes to a temporary name first and is renamed when complete.
ShardSummary write_shards(const std::string& out_dir, const std::string& split,
                          const std::vector<std::string>& classes, int64_t count,
                          int64_t shard_size, const std::function<EncodedSample(int64_t)>& sample);

/// Writes split `split` of any source as shards (see write_shards): a sample source
/// (is_sample_source) copies each sample's encoded bytes as they are; a dataset only load_dataset
/// reads (IDX, CIFAR-10 binaries) encodes each decoded image as PNG. `options.cache_dir` is used
/// for both.
ShardSummary shard_source(const std::string& spec, const std::string& split,
                          const std::string& out_dir, int64_t shard_size,
                          const DatasetOptions& options);

}  // namespace clustermim
