/*
 * Fingerprints of what produced a file, so that nothing clustermim finds on disk is reused under
 * other settings without saying so.
 *
 * `Fingerprint` is a 64-bit FNV-1a hash over strings, bytes and file-system metadata (a content
 * key: it changes when a dataset's files change). `Provenance` lists the named ingredients a file
 * was made from (dataset identity and content key, split, image size and transform, model and
 * tokenizer spec, precision) and is stored in the file's metadata. A reader builds the provenance
 * it would write now and compares: a cache whose provenance differs is recomputed (and the log
 * says which ingredient changed); a run folder's file whose provenance differs is an error that
 * names the ingredient (see `describe_mismatch`).
 */
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace clustermim {

/// FNV-1a 64-bit accumulator over strings, bytes and file-system metadata.
class Fingerprint {
 public:
  /// Mixes in `text` (length-prefixed, so "ab"+"c" differs from "a"+"bc").
  void add(const std::string& text);
  /// Mixes in `size` raw bytes (not length-prefixed).
  void add_bytes(const void* data, size_t size);
  /// Mixes in the canonical path, size and mtime of `path` ("missing" when absent); for a folder
  /// and `recursive`, also the relative path, size and mtime of everything under it, sorted.
  void add_path(const std::string& path, bool recursive);
  /// 16 lowercase hex digits.
  std::string hex() const;

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

/// The named ingredients a file was produced from, e.g. {"data.train": "fashion-mnist@1f0c...",
/// "tokenizer.seed": "0"}. Values are compared as text.
class Provenance {
 public:
  /// Sets ingredient `name` (replaces an earlier value).
  Provenance& set(const std::string& name, const std::string& value);
  /// A JSON value: a scalar under `prefix` (strings as they are, others as their compact dump:
  /// "0.75", "true", "[1,2]"), every leaf of an object as "<prefix>.<key path>".
  Provenance& set_all(const std::string& prefix, const nlohmann::json& value);

  const std::map<std::string, std::string>& items() const { return items_; }
  /// A hash of every ingredient (16 hex digits): one ingredient of a file made from this one.
  std::string digest() const;

  /// {"name": "value", ...}: what files store in their metadata.
  nlohmann::json to_json() const;
  /// The inverse of to_json; an absent or malformed record gives an empty provenance.
  static Provenance from_json(const nlohmann::json& record);

  /// "" when `stored` (read from a file) equals this one; else one line naming what differs,
  /// e.g. "tokenizer.seed is 0 there, 1 now; data.train differs". A value too long to print
  /// (a hash, a JSON blob) is only said to differ.
  std::string describe_mismatch(const Provenance& stored) const;

 private:
  std::map<std::string, std::string> items_;
};

}  // namespace clustermim
