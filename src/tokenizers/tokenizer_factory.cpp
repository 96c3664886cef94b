/*
 * Tokenizer requests, building and counting (see tokenizer_factory.h).
 */
#include "tokenizers/tokenizer_factory.h"

#include <filesystem>

#include "backend/tensor_batches.h"
#include "core/error.h"
#include "tokenizers/baseline_tokenizers.h"
#include "tokenizers/feature_kmeans.h"

namespace clustermim {

namespace {

int64_t parse_vocab(const std::string& text, const std::string& digits) {
  CM_REQUIRE(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos &&
                 digits.size() <= 8,
             "tokenizer '", text, "': vocabulary must be a positive integer");
  const int64_t k = std::stoll(digits);
  CM_REQUIRE(k >= 1, "tokenizer '", text, "': vocabulary must be >= 1");
  return k;
}

std::unique_ptr<Tokenizer> build_feature_kmeans(const TokenizerRequest& request,
                                                const Dataset& fit_split, const ChannelStats& stats,
                                                const BuildOptions& options, torch::Device device,
                                                const KMeansProgress& progress) {
  CM_REQUIRE(!options.teacher.empty(), "tokenizer '", request.text, "': feature-kmeans needs a ",
             "teacher (a .cmck checkpoint or a timm-named .safetensors ViT)");
  FeatureKMeansOptions o;
  o.vocab = request.vocab > 0 ? request.vocab : kDefaultVocab;
  o.block = options.teacher_block;
  o.normalize = options.normalize_features;
  o.patch_size = options.fit.patch_size;
  o.image_size = options.fit.image_size > 0 ? options.fit.image_size : fit_split.height;
  o.max_patches = options.fit.max_patches;
  o.iterations = options.fit.iterations;
  o.seed = options.fit.seed;
  o.workers = options.fit.workers;
  CM_REQUIRE(o.image_size % o.patch_size == 0, "patch size ", o.patch_size,
             " does not divide image size ", o.image_size);
  FrozenEncoder teacher =
      load_encoder(options.teacher, o.image_size / o.patch_size, options.teacher_heads);
  return fit_feature_kmeans(std::move(teacher), fit_split, stats, o, device, progress);
}

}  // namespace

TokenizerRequest parse_tokenizer_request(const std::string& text) {
  TokenizerRequest r;
  r.text = text;
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (kind == "label" || kind == "random" || kind == "pixel-kmeans" || kind == "feature-kmeans") {
    r.kind = kind;
    if (colon != std::string::npos) r.vocab = parse_vocab(text, text.substr(colon + 1));
    CM_REQUIRE(kind != "label" || r.vocab == 0, "tokenizer '", text,
               "': label takes no vocabulary (it is the number of classes)");
    return r;
  }
  CM_REQUIRE(std::filesystem::is_regular_file(text), "tokenizer '", text,
             "': neither a kind (label, random[:K], pixel-kmeans[:K], feature-kmeans[:K]) nor an "
             "existing file");
  r.path = text;
  return r;
}

std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerRequest& request, const Dataset& fit_split,
                                           const ChannelStats& stats, const BuildOptions& options,
                                           torch::Device device, const KMeansProgress& progress) {
  std::unique_ptr<Tokenizer> tokenizer;
  if (!request.path.empty()) {
    tokenizer = load_tokenizer(request.path);
  } else if (request.kind == "pixel-kmeans") {
    PixelKMeansOptions fit = options.fit;
    fit.vocab = request.vocab > 0 ? request.vocab : kDefaultVocab;
    tokenizer = fit_pixel_kmeans(fit_split, stats, fit, device, progress);
  } else if (request.kind == "feature-kmeans") {
    tokenizer = build_feature_kmeans(request, fit_split, stats, options, device, progress);
  } else {
    TokenizerSpec base;
    base.patch_size = options.fit.patch_size;
    base.image_size = options.fit.image_size > 0 ? options.fit.image_size : fit_split.height;
    base.stats = stats;
    base.dataset = fit_split.name + "/" + fit_split.split;
    CM_REQUIRE(base.image_size % base.patch_size == 0, "patch size ", base.patch_size,
               " does not divide image size ", base.image_size);
    tokenizer = request.kind == "label"
                    ? make_label_tokenizer(base, fit_split.num_classes())
                    : make_random_tokenizer(base, request.vocab > 0 ? request.vocab : kDefaultVocab,
                                            options.random_seed);
  }
  tokenizer->to(device);
  return tokenizer;
}

namespace {

/// Checks that `tokenizer` fits `dataset`, then calls fn(tokens [B, L], labels [B], indices [B])
/// (int64, on the CPU) for every batch of an unaugmented pass in index order.
void for_each_token_batch(
    const Tokenizer& tokenizer, const Dataset& dataset, int workers, torch::Device device,
    const std::function<void(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>& fn) {
  const TokenizerSpec& spec = tokenizer.spec();
  CM_REQUIRE(dataset.height == dataset.width, dataset.source, ": images are not square");
  check_tokenizer_fits(spec, dataset.height, 3, dataset.source);
  CM_REQUIRE(spec.kind != "label" || spec.vocab == dataset.num_classes(), dataset.source,
             ": has ", dataset.num_classes(), " classes, the label tokenizer ", spec.vocab);
  EvalPassOptions pass;
  pass.image_size = spec.image_size;
  pass.workers = workers;
  for_each_eval_batch(dataset, spec.stats, pass, device, [&](const TensorBatch& batch) {
    fn(tokenizer.tokenize({batch.images, batch.labels, batch.indices}).to(torch::kCPU).contiguous(),
       batch.labels.to(torch::kCPU).contiguous(), batch.indices.to(torch::kCPU).contiguous());
  });
}

}  // namespace

TokenClassCounts count_token_classes(const Tokenizer& tokenizer, const Dataset& dataset,
                                     int workers, torch::Device device) {
  TokenClassCounts counts(tokenizer.spec().vocab, dataset.num_classes());
  for_each_token_batch(tokenizer, dataset, workers, device,
                       [&](const torch::Tensor& tokens, const torch::Tensor& labels,
                           const torch::Tensor&) {
                         counts.add(tokens.data_ptr<int64_t>(), labels.data_ptr<int64_t>(),
                                    tokens.size(0), tokens.size(1));
                       });
  return counts;
}

TokenLabelSet tokenize_split(const Tokenizer& tokenizer, const Dataset& dataset, int workers,
                             torch::Device device) {
  TokenLabelSet set;
  set.images = dataset.size();
  set.vocab = tokenizer.spec().vocab;
  set.num_classes = dataset.num_classes();
  set.labels.resize(set.images);
  for_each_token_batch(tokenizer, dataset, workers, device,
                       [&](const torch::Tensor& tokens, const torch::Tensor& labels,
                           const torch::Tensor& indices) {
                         set.patches = tokens.size(1);
                         set.tokens.resize(set.images * set.patches);
                         const auto t = tokens.accessor<int64_t, 2>();
                         const auto y = labels.accessor<int64_t, 1>();
                         const auto at = indices.accessor<int64_t, 1>();
                         for (int64_t b = 0; b < tokens.size(0); ++b) {
                           const int64_t i = at[b];
                           set.labels[i] = static_cast<int32_t>(y[b]);
                           for (int64_t p = 0; p < set.patches; ++p) {
                             set.tokens[i * set.patches + p] = static_cast<int32_t>(t[b][p]);
                           }
                         }
                       });
  return set;
}

}  // namespace clustermim

