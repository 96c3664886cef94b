/*
 * Frozen-encoder evaluation with a fingerprinted feature cache (see encoder_eval.h).
 */
#include "eval/encoder_eval.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "io/file_util.h"
#include "io/tensor_file.h"
#include "models/mim.h"

namespace clustermim {

namespace {

/// Features of a cache file when it exists, loads and was made from `wanted`; else nullopt, with
/// the reason logged.
std::optional<PooledFeatures> cached_features(const std::string& path, const Provenance& wanted) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  nlohmann::json meta;
  PooledFeatures features;
  try {
    features = load_features(path, &meta);
  } catch (const Error& e) {
    spdlog::warn("recomputing features: {}", e.what());
    return std::nullopt;
  }
  const std::string why = wanted.describe_mismatch(Provenance::from_json(meta.value("provenance", nlohmann::json())));
  if (!why.empty()) {
    spdlog::info("recomputing features: {} was made from other inputs ({})", path, why);
    return std::nullopt;
  }
  spdlog::info("features from {}", path);
  return features;
}

}  // namespace

std::string encoder_digest(VisionTransformer& encoder) {
  torch::NoGradGuard no_grad;
  Fingerprint fp;
  fp.add(to_json(encoder->config()).dump());
  auto add = [&](const std::string& name, const torch::Tensor& value) {
    const torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
    fp.add(name);
    fp.add(std::string(c10::toString(t.scalar_type())));
    fp.add_bytes(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  };
  for (const auto& item : encoder->named_parameters()) add(item.key(), item.value());
  for (const auto& item : encoder->named_buffers()) add(item.key(), item.value());
  return fp.hex();
}

Provenance feature_provenance(VisionTransformer& encoder, const ImageSource& source,
                              const std::string& split, const ChannelStats& stats,
                              const FeatureOptions& options) {
  Provenance p;
  p.set("data", source.identity());
  p.set("split", split);
  const int64_t size = options.image_size > 0 ? options.image_size : encoder->config().image_size;
  p.set("image_size", std::to_string(size));
  const float ratio = options.crop_ratio > 0 ? options.crop_ratio : source.default_crop_ratio();
  p.set("crop_ratio", fmt::format("{}", ratio));
  p.set_all("transform", nlohmann::json{{"eval", "resize+center-crop"},
                                        {"mean", stats.mean}, {"std", stats.std}});
  p.set("encoder", encoder_digest(encoder));
  p.set("precision", options.bf16 ? "bf16" : "fp32");
  p.set("feature_dtype", feature_dtype_name(options.feature_dtype));
  return p;
}

Provenance feature_provenance(VisionTransformer& encoder, const Dataset& dataset,
                              const ChannelStats& stats, const FeatureOptions& options) {
  return feature_provenance(encoder, MemoryImageSource(dataset), dataset.split, stats, options);
}

PooledFeatures encoder_features(VisionTransformer& encoder, const ImageSource& source,
                                const std::string& split, const ChannelStats& stats,
                                const FeatureOptions& options, torch::Device device,
                                const std::string& cache_dir) {
  encoder->eval();
  FeatureOptions o = options;
  if (o.image_size <= 0) o.image_size = encoder->config().image_size;
  const std::string path = cache_dir.empty() ? "" : cache_dir + "/features-" + split + ".cmft";
  const Provenance provenance =
      path.empty() ? Provenance() : feature_provenance(encoder, source, split, stats, o);
  if (!path.empty()) {
    if (auto cached = cached_features(path, provenance)) return std::move(*cached);
  }
  const EncodeFn encode = [&](const torch::Tensor& images) { return encoder->forward_features(images); };
  Progress progress("features " + split, source.size());
  PooledFeatures f = extract_features(encode, source, stats, o, device,
                                      [&](int64_t done, int64_t) { progress.update(done, ""); });
  progress.finish("");
  if (!path.empty()) {
    make_dirs(cache_dir);
    save_features(path, f, {{"split", split}, {"dataset", source.name()},
                            {"provenance", provenance.to_json()}});
  }
  return f;
}

PooledFeatures encoder_features(VisionTransformer& encoder, const Dataset& dataset,
                                const ChannelStats& stats, const FeatureOptions& options,
                                torch::Device device, const std::string& cache_dir) {
  return encoder_features(encoder, MemoryImageSource(dataset), dataset.split, stats, options,
                          device, cache_dir);
}

EncoderScores evaluate_encoder(VisionTransformer& encoder, const ImageSource& train,
                               const ImageSource& test, const ChannelStats& stats,
                               const EncoderEvalOptions& options, torch::Device device) {
  const auto start = std::chrono::steady_clock::now();
  if (options.knn || options.linear) {
    for (const ImageSource* source : {&train, &test}) {
      CM_REQUIRE(source->num_classes() > 0, source->name(),
                 ": k-NN and the linear probe need labels; this source is unlabeled");
    }
  }
  const PooledFeatures train_f =
      encoder_features(encoder, train, "train", stats, options.features, device, options.cache_dir);
  const PooledFeatures test_f =
      encoder_features(encoder, test, "test", stats, options.features, device, options.cache_dir);
  EncoderScores s;
  if (options.knn) {
    const KnnResult knn = knn_classify(train_f.at(options.pooling), test_f.at(options.pooling),
                                       train.num_classes(), options.knn_options, device);
    s.knn_top1 = knn.top1;
    s.knn_top5 = knn.top5;
  }
  if (options.linear) {
    const LinearProbeResult lin = linear_probe(train_f.at(options.pooling), test_f.at(options.pooling),
                                               train.num_classes(), options.linear_options, device);
    s.linear_top1 = lin.top1;
    s.linear_top5 = lin.top5;
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

EncoderScores evaluate_encoder(VisionTransformer& encoder, const Dataset& train, const Dataset& test,
                               const ChannelStats& stats, const EncoderEvalOptions& options,
                               torch::Device device) {
  return evaluate_encoder(encoder, MemoryImageSource(train), MemoryImageSource(test), stats,
                          options, device);
}

}  // namespace clustermim
