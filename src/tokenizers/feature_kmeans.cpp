/*
 * Feature K-means tokenizer (see feature_kmeans.h).
 */
#include "tokenizers/feature_kmeans.h"

#include "backend/tensor_batches.h"
#include "backend/tensor_io.h"
#include "backend/torch_compat.h"
#include "core/error.h"
#include "data/subset.h"
#include "models/mim.h"
#include "data/source_subset.h"

namespace clustermim {

namespace {

namespace F = torch::nn::functional;

const std::string kTeacherPrefix = "teacher/";

torch::Tensor channel_tensor(const std::array<float, 3>& v, const torch::Tensor& like) {
  return torch::tensor(std::vector<float>(v.begin(), v.end()), like.options()).view({1, 3, 1, 1});
}

/// Images normalized with `from` -> normalized with `to`, resized to size x size.
torch::Tensor teacher_input(torch::Tensor x, const ChannelStats& from, const ChannelStats& to,
                            int64_t size) {
  if (from.mean != to.mean || from.std != to.std) {
    const torch::Tensor scale = channel_tensor(from.std, x) / channel_tensor(to.std, x);
    const torch::Tensor shift = (channel_tensor(from.mean, x) - channel_tensor(to.mean, x)) /
                                channel_tensor(to.std, x);
    x = x * scale + shift;
  }
  if (x.size(2) != size) {
    x = F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size})
                              .mode(torch::kBicubic).align_corners(false));
  }
  return x;
}

/// The teacher must tokenize `spec`'s images: same token grid and channels, a valid block.
void check_teacher(const FrozenEncoder& teacher, const TokenizerSpec& spec, int64_t block) {
  const VitConfig& t = teacher.encoder->config();
  CM_REQUIRE(t.image_size / t.patch_size == spec.grid(), teacher.source, ": teacher grid ",
             t.image_size / t.patch_size, " differs from the token grid ", spec.grid());
  CM_REQUIRE(block >= -1 && block < t.depth, teacher.source, ": block ", block,
             " is out of range (the teacher has ", t.depth, " blocks; -1 = after the final norm)");
  CM_REQUIRE(t.in_chans == spec.channels, teacher.source, ": teacher takes ", t.in_chans,
             " channels, images have ", spec.channels);
}

}  // namespace

torch::Tensor teacher_patch_features(const FrozenEncoder& teacher, const torch::Tensor& images,
                                     const ChannelStats& stats, int64_t block, bool normalize,
                                     bool bf16) {
  torch::NoGradGuard no_grad;
  const int64_t size = teacher.encoder->config().image_size;
  const torch::Tensor x = teacher_input(images.to(torch::kFloat32), stats, teacher.stats, size);
  torch::Tensor f;
  {
    AutocastGuard autocast(x.device(), torch::kBFloat16, bf16);
    f = teacher.encoder.ptr()->forward_block_features(x, block);  // the holder is const, the module is not
  }
  f = f.slice(1, 1).to(torch::kFloat32);
  return normalize ? F::normalize(f, F::NormalizeFuncOptions().dim(-1)) : f;
}

FeatureKMeansTokenizer::FeatureKMeansTokenizer(TokenizerSpec spec, FrozenEncoder teacher,
                                               const FeatureKMeansOptions& options,
                                               torch::Tensor centroids)
    : Tokenizer(std::move(spec)),
      teacher_(std::move(teacher)),
      block_(options.block),
      normalize_(options.normalize),
      bf16_(options.bf16),
      centroids_(centroids.to(torch::kFloat32).contiguous()) {
  check_teacher(teacher_, spec_, block_);
  CM_CHECK(centroids_.dim() == 2 && centroids_.size(0) == spec_.vocab &&
               centroids_.size(1) == teacher_.encoder->config().dim, "centroids must be [K, D]");
}

void FeatureKMeansTokenizer::to(torch::Device device) {
  teacher_.encoder->to(device);
  centroids_ = centroids_.to(device);
}

torch::Tensor FeatureKMeansTokenizer::features(const torch::Tensor& images) const {
  return teacher_patch_features(teacher_, images, spec_.stats, block_, normalize_, bf16_);
}

torch::Tensor FeatureKMeansTokenizer::tokenize_checked(const TokenizerInput& input) const {
  const torch::Tensor f = features(input.images);
  const int64_t b = f.size(0), l = f.size(1);
  return assign_nearest(f.reshape({b * l, f.size(2)}), centroids_.to(f.device())).reshape({b, l});
}

void FeatureKMeansTokenizer::save_state(TensorFile& file) const {
  file.meta["teacher"] = {{"config", to_json(teacher_.encoder->config())},
                          {"mean", teacher_.stats.mean},
                          {"std", teacher_.stats.std},
                          {"source", teacher_.source},
                          {"block", block_},
                          {"normalize", normalize_},
                          {"bf16", bf16_}};
  put_tensor(file, "centroids", centroids_);
  for (const auto& item : teacher_.encoder->named_parameters()) {
    put_tensor(file, kTeacherPrefix + item.key(), item.value().to(torch::kFloat32));
  }
}

torch::Tensor sample_patch_features(const FrozenEncoder& teacher, const ImageSource& source,
                                    const ChannelStats& stats, const FeatureKMeansOptions& o,
                                    torch::Device device) {
  const int64_t size = tokenizer_image_size(o.image_size, source);
  const int64_t grid = size / o.patch_size;
  const int64_t images_needed = (2 * o.max_patches + grid * grid - 1) / (grid * grid);
  const SubsetImageSource sample(source, sample_indices(source.size(), images_needed, o.seed));
  std::vector<torch::Tensor> parts;
  EvalPassOptions pass;
  pass.image_size = size;
  pass.workers = o.workers;
  pass.max_bad_fraction = o.max_bad_fraction;
  pass.crop_ratio = o.crop_ratio;
  for_each_eval_batch(sample, stats, pass, device, [&](const TensorBatch& batch) {
    const torch::Tensor f = teacher_patch_features(teacher, batch.images, stats, o.block,
                                                   o.normalize, o.bf16);
    parts.push_back(f.reshape({-1, f.size(2)}));
  });
  const torch::Tensor all = torch::cat(parts);
  if (all.size(0) <= o.max_patches) return all;
  const std::vector<int64_t> rows = sample_indices(all.size(0), o.max_patches, o.seed + 1);
  return all.index_select(0, torch::tensor(rows, torch::kLong).to(all.device()));
}

std::unique_ptr<FeatureKMeansTokenizer> fit_feature_kmeans(
    FrozenEncoder teacher, const ImageSource& source, const ChannelStats& stats,
    const FeatureKMeansOptions& o, torch::Device device,
    const KMeansProgress& progress) {
  TokenizerSpec spec =
      fitted_spec("feature-kmeans", o.vocab, o.patch_size, o.image_size, stats, source);
  check_teacher(teacher, spec, o.block);
  teacher.encoder->to(device);
  const torch::Tensor points = sample_patch_features(teacher, source, stats, o, device);
  KMeansOptions km;
  km.k = o.vocab;
  km.iterations = o.iterations;
  km.seed = o.seed;
  km.spherical = o.normalize;
  const KMeansResult fit = fit_kmeans(points, km, progress);
  spec.fit = {{"objective", fit.objective},
              {"final_objective", kmeans_objective(points, fit.centroids)},
              {"iterations", fit.iterations},
              {"patches", points.size(0)},
              {"seconds", fit.seconds},
              {"seed", o.seed},
              {"block", o.block},
              {"normalize", o.normalize},
              {"teacher", teacher.source}};
  return std::make_unique<FeatureKMeansTokenizer>(std::move(spec), std::move(teacher), o,
                                                  fit.centroids);
}

std::unique_ptr<FeatureKMeansTokenizer> fit_feature_kmeans(
    FrozenEncoder teacher, const Dataset& dataset, const ChannelStats& stats,
    const FeatureKMeansOptions& o, torch::Device device,
    const KMeansProgress& progress) {
  return fit_feature_kmeans(std::move(teacher), MemoryImageSource(dataset), stats, o, device,
                            progress);
}

std::unique_ptr<Tokenizer> load_feature_kmeans(TokenizerSpec spec, const TensorFile& file) {
  FeatureKMeansOptions o;
  VitConfig config;
  ChannelStats stats;
  std::string source;
  try {
    const nlohmann::json& t = file.meta.at("teacher");
    config = vit_config_from_json(t.at("config"));
    stats.mean = t.at("mean").get<std::array<float, 3>>();
    stats.std = t.at("std").get<std::array<float, 3>>();
    source = t.at("source").get<std::string>();
    o.block = t.at("block").get<int64_t>();
    o.normalize = t.at("normalize").get<bool>();
    o.bf16 = t.at("bf16").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    fail(file.source, ": feature tokenizer without a valid teacher record (", e.what(), ")");
  }
  SafetensorsFile weights;
  weights.source = file.source;
  for (const TensorRecord& r : file.tensors) {
    if (r.name.rfind(kTeacherPrefix, 0) != 0) continue;
    weights.tensors.push_back(r);
    weights.tensors.back().name = r.name.substr(kTeacherPrefix.size());
  }
  FrozenEncoder teacher = frozen_encoder(config, weights, stats, source);
  const torch::Tensor centroids =
      get_tensor(file, "centroids", torch::IntArrayRef({spec.vocab, config.dim}));
  return std::make_unique<FeatureKMeansTokenizer>(std::move(spec), std::move(teacher), o, centroids);
}

}  // namespace clustermim
