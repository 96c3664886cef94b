/*
 * Tokenizer base: input checks, the "CMTK" file format, and loading by kind (see tokenizer.h).
 *
 * File meta: {"kind", "vocab", "patch_size", "image_size", "channels", "mean", "std",
 * "dataset", "fit", ...kind-specific keys}; tensors are kind-specific (pixel-kmeans: "centroids"
 * F32 [K, p*p*C]).
 */
#include "tokenizers/tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "io/tensor_file.h"
#include "models/checkpoint_file.h"
#include "tokenizers/baseline_tokenizers.h"
#include "tokenizers/feature_kmeans.h"
#include "tokenizers/pixel_kmeans.h"

namespace clustermim {

namespace {

constexpr const char* kTokenizerMagic = "CMTK";

nlohmann::json spec_to_json(const TokenizerSpec& s) {
  return {{"kind", s.kind},
          {"vocab", s.vocab},
          {"patch_size", s.patch_size},
          {"image_size", s.image_size},
          {"channels", s.channels},
          {"mean", s.stats.mean},
          {"std", s.stats.std},
          {"dataset", s.dataset},
          {"fit", s.fit}};
}

TokenizerSpec spec_from_json(const nlohmann::json& m, const std::string& path) {
  TokenizerSpec s;
  try {
    s.kind = m.at("kind").get<std::string>();
    s.vocab = m.at("vocab").get<int64_t>();
    s.patch_size = m.at("patch_size").get<int64_t>();
    s.image_size = m.at("image_size").get<int64_t>();
    s.channels = m.at("channels").get<int64_t>();
    s.stats.mean = m.at("mean").get<std::array<float, 3>>();
    s.stats.std = m.at("std").get<std::array<float, 3>>();
    s.dataset = m.value("dataset", "");
    s.fit = m.value("fit", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a valid tokenizer file (", e.what(), ")");
  }
  CM_REQUIRE(s.vocab >= 1 && s.vocab <= (int64_t{1} << 24), path, ": bad vocabulary size ",
             s.vocab);
  CM_REQUIRE(s.patch_size >= 1 && s.image_size >= s.patch_size &&
                 s.image_size % s.patch_size == 0 && s.image_size <= 4096,
             path, ": bad geometry (image ", s.image_size, ", patch ", s.patch_size, ")");
  CM_REQUIRE(s.channels == 3, path, ": unsupported channel count ", s.channels);
  return s;
}

}  // namespace

void check_tokenizer_fits(const TokenizerSpec& spec, int64_t image_size, int64_t channels,
                          const std::string& source) {
  CM_REQUIRE(channels == spec.channels, source, ": images have ", channels,
             " channels, the tokenizer expects ", spec.channels);
  CM_REQUIRE(image_size == spec.image_size, source, ": images are ", image_size, "x", image_size,
             " but the ", spec.kind, " tokenizer was fitted on ", spec.image_size, "x",
             spec.image_size, " (patch ", spec.patch_size, "); pass --image-size ",
             spec.image_size, " or refit");
}

int64_t tokenizer_image_size(int64_t requested, const ImageSource& source) {
  if (requested > 0) return requested;
  CM_REQUIRE(source.native_side() > 0, source.name(), ": images vary in size; give the ",
             "tokenizer an image size (--image-size)");
  return source.native_side();
}

std::string fitted_on(const ImageSource& source) {
  const std::string identity = source.identity();
  return identity.substr(0, identity.rfind('@'));
}

TokenizerSpec fitted_spec(const std::string& kind, int64_t vocab, int64_t patch_size,
                          int64_t image_size, const ChannelStats& stats,
                          const ImageSource& source) {
  TokenizerSpec spec;
  spec.kind = kind;
  spec.vocab = vocab;
  spec.patch_size = patch_size;
  spec.image_size = tokenizer_image_size(image_size, source);
  spec.channels = 3;
  spec.stats = stats;
  spec.dataset = fitted_on(source);
  CM_REQUIRE(spec.patch_size >= 1 && spec.image_size % spec.patch_size == 0, "patch size ",
             spec.patch_size, " does not divide image size ", spec.image_size);
  return spec;
}

torch::Tensor Tokenizer::tokenize(const TokenizerInput& input) const {
  const auto& x = input.images;
  CM_CHECK(x.dim() == 4 && x.size(2) == x.size(3), "images must be [B, C, S, S]");
  check_tokenizer_fits(spec_, x.size(2), x.size(1), "tokenizer input");
  torch::NoGradGuard no_grad;
  return tokenize_checked(input);
}

TensorFile Tokenizer::to_file() const {
  TensorFile file;
  file.magic = kTokenizerMagic;
  file.meta = spec_to_json(spec_);
  save_state(file);
  return file;
}

void Tokenizer::save(const std::string& path) const { save_tensor_file(path, to_file()); }

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (std::filesystem::path(path).extension() == ".cmck") {
    std::unique_ptr<Tokenizer> embedded = checkpoint_tokenizer(load_checkpoint(path));
    CM_REQUIRE(embedded != nullptr, path, ": checkpoint holds no tokenizer (pixel targets)");
    return embedded;
  }
  return tokenizer_from_file(read_tokenizer_file(path));
}

TensorFile read_tokenizer_file(const std::string& path) { return load_tensor_file(path, kTokenizerMagic); }

std::unique_ptr<Tokenizer> tokenizer_from_file(const TensorFile& file) {
  const std::string& path = file.source;
  CM_REQUIRE(file.magic == kTokenizerMagic, path, ": not a tokenizer (magic '", file.magic, "')");
  TokenizerSpec spec = spec_from_json(file.meta, path);
  if (spec.kind == "pixel-kmeans") return load_pixel_kmeans(std::move(spec), file);
  if (spec.kind == "feature-kmeans") return load_feature_kmeans(std::move(spec), file);
  if (spec.kind == "label") return std::make_unique<LabelTokenizer>(std::move(spec));
  if (spec.kind == "random") {
    const uint64_t seed = file.meta.value("seed", uint64_t{0});
    return std::make_unique<RandomTokenizer>(std::move(spec), seed);
  }
  fail(path, ": unknown tokenizer kind '", spec.kind, "'");
}

std::unique_ptr<Tokenizer> checkpoint_tokenizer(const Checkpoint& checkpoint) {
  std::optional<TensorFile> file = checkpoint_tokenizer_file(checkpoint);
  if (!file) return nullptr;
  file->magic = kTokenizerMagic;
  return tokenizer_from_file(*file);
}

}  // namespace clustermim
