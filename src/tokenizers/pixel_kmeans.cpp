/*
 * ClusterMIM Pixel tokenizer (see pixel_kmeans.h).
 */
#include "tokenizers/pixel_kmeans.h"

#include "backend/tensor_batches.h"
#include "backend/tensor_io.h"
#include "core/error.h"
#include "data/subset.h"
#include "data/source_subset.h"
#include "io/tensor_file.h"
#include "models/patchify.h"

namespace clustermim {

namespace {

torch::Tensor patch_vectors(const torch::Tensor& images, int64_t patch, bool normalize) {
  torch::Tensor v = patchify(images, patch);
  return normalize ? normalize_patches(v) : v;
}

}  // namespace

PixelKMeansTokenizer::PixelKMeansTokenizer(TokenizerSpec spec, torch::Tensor centroids,
                                           bool normalize_patches)
    : Tokenizer(std::move(spec)),
      centroids_(centroids.to(torch::kFloat32).contiguous()),
      normalize_patches_(normalize_patches) {
  CM_CHECK(centroids_.dim() == 2 && centroids_.size(0) == spec_.vocab &&
               centroids_.size(1) == spec_.patch_size * spec_.patch_size * spec_.channels,
           "centroids must be [K, p*p*C]");
}

void PixelKMeansTokenizer::to(torch::Device device) { centroids_ = centroids_.to(device); }

torch::Tensor PixelKMeansTokenizer::tokenize_checked(const TokenizerInput& input) const {
  const torch::Tensor v = patch_vectors(input.images.to(torch::kFloat32), spec_.patch_size,
                                        normalize_patches_);
  const int64_t b = v.size(0), l = v.size(1);
  return assign_nearest(v.reshape({b * l, v.size(2)}), centroids_.to(v.device())).reshape({b, l});
}

void PixelKMeansTokenizer::save_state(TensorFile& file) const {
  file.meta["normalize_patches"] = normalize_patches_;
  put_tensor(file, "centroids", centroids_);
}

torch::Tensor sample_patch_vectors(const ImageSource& source, const ChannelStats& stats,
                                   const PixelKMeansOptions& o, torch::Device device) {
  const int64_t size = tokenizer_image_size(o.image_size, source);
  const int64_t grid = size / o.patch_size;
  CM_REQUIRE(grid >= 1 && size % o.patch_size == 0, "patch size ", o.patch_size,
             " does not divide image size ", size);
  const int64_t per_image = grid * grid;
  const int64_t images_needed = (4 * o.max_patches + per_image - 1) / per_image;
  const SubsetImageSource sample(source, sample_indices(source.size(), images_needed, o.seed));

  std::vector<torch::Tensor> parts;
  EvalPassOptions pass;
  pass.image_size = size;
  pass.workers = o.workers;
  pass.max_bad_fraction = o.max_bad_fraction;
  pass.crop_ratio = o.crop_ratio;
  for_each_eval_batch(sample, stats, pass, device, [&](const TensorBatch& batch) {
    const torch::Tensor v = patch_vectors(batch.images, o.patch_size, o.normalize_patches);
    parts.push_back(v.reshape({-1, v.size(2)}));
  });
  torch::Tensor all = torch::cat(parts);
  if (all.size(0) <= o.max_patches) return all;
  const std::vector<int64_t> rows = sample_indices(all.size(0), o.max_patches, o.seed + 1);
  return all.index_select(0, torch::tensor(rows, torch::kLong).to(device));
}

torch::Tensor sample_patch_vectors(const Dataset& dataset, const ChannelStats& stats,
                                   const PixelKMeansOptions& o, torch::Device device) {
  return sample_patch_vectors(MemoryImageSource(dataset), stats, o, device);
}

std::unique_ptr<PixelKMeansTokenizer> fit_pixel_kmeans(const ImageSource& source,
                                                       const ChannelStats& stats,
                                                       const PixelKMeansOptions& o,
                                                       torch::Device device,
                                                       const KMeansProgress& progress) {
  const torch::Tensor points = sample_patch_vectors(source, stats, o, device);
  KMeansOptions km;
  km.k = o.vocab;
  km.iterations = o.iterations;
  km.seed = o.seed;
  const KMeansResult fit = fit_kmeans(points, km, progress);

  TokenizerSpec spec =
      fitted_spec("pixel-kmeans", o.vocab, o.patch_size, o.image_size, stats, source);
  spec.fit = {{"objective", fit.objective},
              {"final_objective", kmeans_objective(points, fit.centroids)},
              {"iterations", fit.iterations},
              {"empty_repairs", fit.empty_repairs},
              {"patches", points.size(0)},
              {"seconds", fit.seconds},
              {"seed", o.seed},
              {"normalize_patches", o.normalize_patches}};
  return std::make_unique<PixelKMeansTokenizer>(std::move(spec), fit.centroids,
                                                o.normalize_patches);
}

std::unique_ptr<PixelKMeansTokenizer> fit_pixel_kmeans(const Dataset& dataset,
                                                       const ChannelStats& stats,
                                                       const PixelKMeansOptions& o,
                                                       torch::Device device,
                                                       const KMeansProgress& progress) {
  return fit_pixel_kmeans(MemoryImageSource(dataset), stats, o, device, progress);
}

std::unique_ptr<Tokenizer> load_pixel_kmeans(TokenizerSpec spec, const TensorFile& file) {
  const int64_t dim = spec.patch_size * spec.patch_size * spec.channels;
  CM_REQUIRE(file.get("centroids").dtype == DType::F32, file.source, ": centroids must be F32");
  const torch::Tensor centroids = get_tensor(file, "centroids", torch::IntArrayRef({spec.vocab, dim}));
  const bool normalize = file.meta.value("normalize_patches", false);
  return std::make_unique<PixelKMeansTokenizer>(std::move(spec), centroids, normalize);
}

}  // namespace clustermim
