/*
 * Run-folder tokenizers with provenance (see prepared_tokenizer.h).
 */
#include "tokenizers/prepared_tokenizer.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/error.h"
#include "io/tensor_file.h"

namespace clustermim {

namespace {

const char* const kProvenanceKey = "provenance";

/// "<path>@<content key>" of a file the tokenizer is made from.
std::string file_identity(const std::string& path) {
  Fingerprint fp;
  fp.add_path(path, false);
  return path + "@" + fp.hex();
}

}  // namespace

Provenance tokenizer_provenance(const TokenizerRequest& request, const ImageSource& fit_split,
                                const BuildOptions& o) {
  Provenance p;
  p.set("data", fit_split.identity());
  if (!request.path.empty()) return p.set("tokenizer.file", file_identity(request.path));
  p.set("tokenizer.kind", request.kind);
  p.set("tokenizer.vocab", std::to_string(request.vocab));
  p.set("patch_size", std::to_string(o.fit.patch_size));
  p.set("image_size", std::to_string(tokenizer_image_size(o.fit.image_size, fit_split)));
  if (request.kind == "random") p.set("tokenizer.seed", std::to_string(o.random_seed));
  if (request.kind != "pixel-kmeans" && request.kind != "feature-kmeans") return p;
  p.set("tokenizer.seed", std::to_string(o.fit.seed));
  p.set("tokenizer.max_patches", std::to_string(o.fit.max_patches));
  p.set("tokenizer.iterations", std::to_string(o.fit.iterations));
  if (request.kind == "pixel-kmeans") {
    return p.set("tokenizer.normalize_patches", o.fit.normalize_patches ? "true" : "false");
  }
  p.set("tokenizer.teacher", file_identity(o.teacher));
  p.set("tokenizer.teacher_block", std::to_string(o.teacher_block));
  p.set("tokenizer.teacher_heads", std::to_string(o.teacher_heads));
  return p.set("tokenizer.normalize_features", o.normalize_features ? "true" : "false");
}

std::string tokenizer_digest(const Tokenizer& tokenizer) {
  TensorFile file = tokenizer.to_file();
  file.meta.erase("fit");
  file.meta.erase(kProvenanceKey);
  Fingerprint fp;
  fp.add(file.meta.dump());
  for (const TensorRecord& r : file.tensors) {
    fp.add(r.name);
    fp.add(dtype_name(r.dtype));
    for (int64_t d : r.shape) fp.add(std::to_string(d));
    fp.add_bytes(r.data.data(), r.data.size());
  }
  return fp.hex();
}

void save_tokenizer(const Tokenizer& tokenizer, const Provenance& provenance, const std::string& path) {
  TensorFile file = tokenizer.to_file();
  file.meta[kProvenanceKey] = provenance.to_json();
  save_tensor_file(path, file);
}

std::unique_ptr<Tokenizer> load_tokenizer_checked(const std::string& path, const Provenance& wanted,
                                                  const std::string& fresh_hint) {
  const TensorFile file = read_tokenizer_file(path);
  const nlohmann::json recorded = file.meta.value(kProvenanceKey, nlohmann::json());
  CM_REQUIRE(recorded.is_object(), path, ": records no provenance (written by an older clustermim), ",
             "so it cannot be checked against the current settings; ", fresh_hint);
  const std::string why = wanted.describe_mismatch(Provenance::from_json(recorded));
  CM_REQUIRE(why.empty(), path, ": made under other settings (", why, "); ", fresh_hint);
  return tokenizer_from_file(file);
}

std::unique_ptr<Tokenizer> prepare_tokenizer(const TokenizerRequest& request,
                                             const ImageSource& fit_split,
                                             const ChannelStats& stats, const BuildOptions& options,
                                             const std::string& saved, const std::string& fresh_hint,
                                             torch::Device device) {
  const Provenance provenance = tokenizer_provenance(request, fit_split, options);
  std::unique_ptr<Tokenizer> tokenizer;
  if (std::filesystem::exists(saved)) {
    tokenizer = load_tokenizer_checked(saved, provenance, fresh_hint);
    spdlog::info("tokenizer {} (K = {}) from {}", tokenizer->spec().kind, tokenizer->spec().vocab, saved);
  } else {
    tokenizer = build_tokenizer(request, fit_split, stats, options, device);
    save_tokenizer(*tokenizer, provenance, saved);
    spdlog::info("tokenizer {} (K = {}) -> {}", tokenizer->spec().kind, tokenizer->spec().vocab, saved);
  }
  tokenizer->to(device);
  return tokenizer;
}

std::unique_ptr<Tokenizer> prepare_tokenizer(const TokenizerRequest& request, const Dataset& fit_split,
                                             const ChannelStats& stats, const BuildOptions& options,
                                             const std::string& saved, const std::string& fresh_hint,
                                             torch::Device device) {
  return prepare_tokenizer(request, MemoryImageSource(fit_split), stats, options, saved,
                           fresh_hint, device);
}

}  // namespace clustermim
