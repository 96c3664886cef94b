/*
 * Feature extraction through an encoder callback, both poolings in one pass, and the "CMFT"
 * feature cache (see features.h).
 */
#include "eval/features.h"

#include <algorithm>
#include <vector>

#include "backend/tensor_batches.h"
#include "backend/tensor_io.h"
#include "backend/torch_compat.h"
#include "core/error.h"
#include "io/tensor_file.h"

namespace clustermim {

namespace {

constexpr const char* kFeatureMagic = "CMFT";

}  // namespace

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  fail("unknown pooling '", name, "' (expected cls or mean)");
}

const char* pooling_name(Pooling pooling) { return pooling == Pooling::Cls ? "cls" : "mean"; }

torch::ScalarType parse_feature_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float16") return torch::kHalf;
  fail("unknown feature dtype '", name, "' (expected float32 or float16)");
}

const char* feature_dtype_name(torch::ScalarType dtype) {
  return dtype == torch::kHalf ? "float16" : "float32";
}

PooledFeatures extract_features(const EncodeFn& encode, const ImageSource& source,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const FeatureProgress& progress) {
  CM_REQUIRE(options.batch_size >= 1, "feature extraction: batch size must be >= 1, got ",
             options.batch_size);
  CM_REQUIRE(options.feature_dtype == torch::kFloat32 || options.feature_dtype == torch::kHalf,
             "feature extraction: features are stored float32 or float16, not ",
             c10::toString(options.feature_dtype));
  torch::NoGradGuard no_grad;
  const torch::ScalarType dtype = options.feature_dtype;
  // The result is allocated once ([N, D], when the first batch gives D) and filled in place: the
  // only memory that grows with N.
  const int64_t n = source.size();
  torch::Tensor cls, mean, labels = torch::empty({n}, torch::kLong);
  int64_t done = 0, kept = 0;
  EvalPassOptions pass;
  pass.image_size = options.image_size;
  pass.crop_ratio = options.crop_ratio;
  pass.batch_size = options.batch_size;
  pass.workers = options.workers;
  pass.max_bad_fraction = options.max_bad_fraction;
  for_each_eval_batch(source, stats, pass, device, [&](const TensorBatch& batch) {
    const int64_t b = batch.images.size(0);
    const auto& replaced = batch.replaced_rows;
    CM_CHECK(std::find(replaced.begin(), replaced.end(), 0) != replaced.end() ||
                 batch.indices[0].item<int64_t>() == done,
             "batches out of order");
    torch::Tensor tokens;
    {
      AutocastGuard autocast(device, torch::kBFloat16, options.bf16);
      tokens = encode(batch.images);
    }
    CM_REQUIRE(tokens.dim() == 3 && tokens.size(0) == b && tokens.size(1) >= 2,
               "feature extraction: the encoder returned shape ", tokens.sizes(), " for ", b,
               " images (expected [B, 1 + L, D] with L >= 1)");
    tokens = tokens.to(torch::kFloat32);
    if (!cls.defined()) {
      cls = torch::empty({n, tokens.size(2)}, torch::TensorOptions().dtype(dtype));
      mean = torch::empty_like(cls);
    }
    torch::Tensor c = tokens.select(1, 0), m = tokens.slice(1, 1).mean(1), y = batch.labels;
    if (!replaced.empty()) {  // rows holding another sample in place of a bad one
      std::vector<int64_t> keep;
      for (int64_t r = 0; r < b; ++r) {
        if (std::find(replaced.begin(), replaced.end(), r) == replaced.end()) keep.push_back(r);
      }
      const torch::Tensor rows = torch::tensor(keep, torch::kLong).to(tokens.device());
      c = c.index_select(0, rows);
      m = m.index_select(0, rows);
      y = y.index_select(0, rows);
    }
    // Copies into the result, never views: a view of the CLS row would keep the whole
    // [B, 1 + L, D] batch alive.
    cls.narrow(0, kept, c.size(0)).copy_(c);
    mean.narrow(0, kept, c.size(0)).copy_(m);
    labels.narrow(0, kept, c.size(0)).copy_(y);
    kept += c.size(0);
    done += b;
    if (progress) progress(done, n);
  });
  CM_CHECK(done == n, "saw ", done, " of ", n, " images");
  const torch::Tensor all_labels = labels.narrow(0, 0, kept);
  return {{cls.narrow(0, 0, kept), all_labels}, {mean.narrow(0, 0, kept), all_labels}};
}

PooledFeatures extract_features(const EncodeFn& encode, const Dataset& dataset,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const FeatureProgress& progress) {
  return extract_features(encode, MemoryImageSource(dataset), stats, options, device, progress);
}

void check_feature_set(const FeatureSet& set, int64_t num_classes, const std::string& what) {
  CM_REQUIRE(set.features.defined() && set.features.dim() == 2 && set.features.size(0) >= 1 &&
                 set.features.is_floating_point(),
             what, ": expected float features [N, D] with N >= 1");
  CM_REQUIRE(set.labels.defined() && !set.labels.is_floating_point() &&
                 set.labels.sizes() == torch::IntArrayRef{set.size()},
             what, ": expected ", set.size(), " integer labels, got shape ",
             set.labels.defined() ? set.labels.sizes() : torch::IntArrayRef{});
  const auto [low, high] = torch::aminmax(set.labels);
  CM_REQUIRE(low.item<int64_t>() >= 0 && high.item<int64_t>() < num_classes, what,
             ": labels must lie in [0, ", num_classes, "), found [", low.item<int64_t>(), ", ",
             high.item<int64_t>(), "]");
}

void save_features(const std::string& path, const PooledFeatures& features,
                   const nlohmann::json& meta) {
  CM_REQUIRE(features.cls.features.defined() && features.mean.features.defined() &&
                 features.cls.labels.defined() && features.cls.features.dim() == 2,
             path, ": no features to save");
  CM_REQUIRE(features.mean.features.sizes() == features.cls.features.sizes() &&
                 features.cls.labels.sizes() == torch::IntArrayRef{features.cls.size()},
             path, ": cannot save features of mismatched shapes");
  TensorFile file;
  file.magic = kFeatureMagic;
  file.meta = meta;
  const torch::ScalarType dtype =
      features.cls.features.scalar_type() == torch::kHalf ? torch::kHalf : torch::kFloat32;
  put_tensor(file, "cls", features.cls.features.to(dtype));
  put_tensor(file, "mean", features.mean.features.to(dtype));
  put_tensor(file, "labels", features.cls.labels.to(torch::kLong));
  save_tensor_file(path, file);
}

PooledFeatures load_features(const std::string& path, nlohmann::json* meta) {
  const TensorFile file = load_tensor_file(path, kFeatureMagic);
  const TensorRecord& cls = file.get("cls");
  const TensorRecord& mean = file.get("mean");
  const TensorRecord& labels = file.get("labels");
  CM_REQUIRE((cls.dtype == DType::F32 || cls.dtype == DType::F16) && mean.dtype == cls.dtype &&
                 labels.dtype == DType::I64,
             path, ": unexpected tensor dtypes in feature file");
  CM_REQUIRE(cls.shape.size() == 2 && mean.shape == cls.shape && labels.shape.size() == 1 &&
                 labels.shape[0] == cls.shape[0],
             path, ": inconsistent feature shapes");
  const torch::Tensor y = record_to_tensor(labels);
  CM_REQUIRE(y.numel() == 0 || y.min().item<int64_t>() >= -1, path,
             ": class label below -1 (-1 marks an unlabeled sample)");
  if (meta) *meta = file.meta;
  return {{record_to_tensor(cls), y}, {record_to_tensor(mean), y}};
}

}  // namespace clustermim
