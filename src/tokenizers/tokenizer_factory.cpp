/*
 * Tokenizer requests, building and counting (see tokenizer_factory.h).
 */
#include "tokenizers/tokenizer_factory.h"

#include <algorithm>
#include <filesystem>

#include "backend/runtime.h"
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
                                                const ImageSource& fit_split,
                                                const ChannelStats& stats,
                                                const BuildOptions& options, torch::Device device,
                                                const KMeansProgress& progress) {
  CM_REQUIRE(!options.teacher.empty(), "tokenizer '", request.text, "': feature-kmeans needs a ",
             "teacher (a .cmck checkpoint or a timm-named .safetensors ViT)");
  FeatureKMeansOptions o;
  o.vocab = request.vocab > 0 ? request.vocab : kDefaultVocab;
  o.block = options.teacher_block;
  o.normalize = options.normalize_features;
  o.patch_size = options.fit.patch_size;
  o.image_size = tokenizer_image_size(options.fit.image_size, fit_split);
  o.max_patches = options.fit.max_patches;
  o.iterations = options.fit.iterations;
  o.seed = options.fit.seed;
  o.workers = options.fit.workers;
  o.max_bad_fraction = options.fit.max_bad_fraction;
  o.crop_ratio = options.fit.crop_ratio;
  o.bf16 = native_bf16(device);  // the teacher's forward: bf16 where the device computes it
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

std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerRequest& request,
                                           const ImageSource& fit_split, const ChannelStats& stats,
                                           const BuildOptions& options, torch::Device device,
                                           const KMeansProgress& progress) {
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
    CM_REQUIRE(request.kind != "label" || fit_split.num_classes() > 0, fit_split.name(),
               ": the label tokenizer needs labels; this source is unlabeled");
    TokenizerSpec base;
    base.patch_size = options.fit.patch_size;
    base.image_size = tokenizer_image_size(options.fit.image_size, fit_split);
    base.stats = stats;
    base.dataset = fitted_on(fit_split);
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

std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerRequest& request, const Dataset& fit_split,
                                           const ChannelStats& stats, const BuildOptions& options,
                                           torch::Device device, const KMeansProgress& progress) {
  return build_tokenizer(request, MemoryImageSource(fit_split), stats, options, device, progress);
}

namespace {

/// Error unless `source` has labels (and as many classes as a label tokenizer).
void check_labels(const Tokenizer& tokenizer, const ImageSource& source) {
  const TokenizerSpec& spec = tokenizer.spec();
  CM_REQUIRE(source.num_classes() > 0, source.name(), ": TCAS needs labels; this source is ",
             "unlabeled");
  CM_REQUIRE(spec.kind != "label" || spec.vocab == source.num_classes(), source.name(), ": has ",
             source.num_classes(), " classes, the label tokenizer ", spec.vocab);
}

using TokenBatchFn = std::function<void(const torch::Tensor& tokens, const torch::Tensor& labels)>;

/// Calls fn(tokens [B', L], labels [B']) (int64, on the CPU) for every batch of an unaugmented
/// pass in index order, its samples that failed to decode left out.
void for_each_token_batch(const Tokenizer& tokenizer, const ImageSource& source, int workers,
                          torch::Device device, float crop_ratio, double max_bad_fraction,
                          const TokenBatchFn& fn) {
  const TokenizerSpec& spec = tokenizer.spec();
  EvalPassOptions pass;
  pass.image_size = spec.image_size;
  pass.crop_ratio = crop_ratio;
  pass.workers = workers;
  pass.max_bad_fraction = max_bad_fraction;
  for_each_eval_batch(source, spec.stats, pass, device, [&](const TensorBatch& batch) {
    torch::Tensor tokens =
        tokenizer.tokenize({batch.images, batch.labels, batch.indices}).to(torch::kCPU);
    torch::Tensor labels = batch.labels.to(torch::kCPU);
    if (!batch.replaced_rows.empty()) {
      std::vector<int64_t> keep;
      for (int64_t k = 0; k < tokens.size(0); ++k) {
        const auto& replaced = batch.replaced_rows;
        if (std::find(replaced.begin(), replaced.end(), k) == replaced.end()) keep.push_back(k);
      }
      const torch::Tensor rows = torch::tensor(keep, torch::kLong);
      tokens = tokens.index_select(0, rows);
      labels = labels.index_select(0, rows);
    }
    fn(tokens.contiguous(), labels.contiguous());
  });
}

/// The Dataset forms' contract: images of the tokenizer's size (Error naming the dataset's file).
void check_dataset_fits(const Tokenizer& tokenizer, const Dataset& dataset) {
  CM_REQUIRE(dataset.height == dataset.width, dataset.source, ": images are not square");
  check_tokenizer_fits(tokenizer.spec(), dataset.height, 3, dataset.source);
}

}  // namespace

TokenClassCounts count_token_classes(const Tokenizer& tokenizer, const ImageSource& source,
                                     int workers, torch::Device device, float crop_ratio,
                                     double max_bad_fraction) {
  check_labels(tokenizer, source);
  TokenClassCounts counts(tokenizer.spec().vocab, source.num_classes());
  for_each_token_batch(tokenizer, source, workers, device, crop_ratio, max_bad_fraction,
                       [&](const torch::Tensor& tokens, const torch::Tensor& labels) {
                         counts.add(tokens.data_ptr<int64_t>(), labels.data_ptr<int64_t>(),
                                    tokens.size(0), tokens.size(1));
                       });
  return counts;
}

TokenClassCounts count_token_classes(const Tokenizer& tokenizer, const Dataset& dataset,
                                     int workers, torch::Device device) {
  check_dataset_fits(tokenizer, dataset);
  return count_token_classes(tokenizer, MemoryImageSource(dataset), workers, device);
}

TokenLabelSet tokenize_split(const Tokenizer& tokenizer, const ImageSource& source, int workers,
                             torch::Device device, float crop_ratio, double max_bad_fraction) {
  if (tokenizer.spec().kind == "label") check_labels(tokenizer, source);
  TokenLabelSet set;
  set.vocab = tokenizer.spec().vocab;
  set.num_classes = source.num_classes();
  set.patches = tokenizer.spec().num_patches();
  set.tokens.reserve(static_cast<size_t>(source.size() * set.patches));
  set.labels.reserve(static_cast<size_t>(source.size()));
  for_each_token_batch(tokenizer, source, workers, device, crop_ratio, max_bad_fraction,
                       [&](const torch::Tensor& tokens, const torch::Tensor& labels) {
                         const auto t = tokens.accessor<int64_t, 2>();
                         const auto y = labels.accessor<int64_t, 1>();
                         for (int64_t b = 0; b < tokens.size(0); ++b) {
                           set.labels.push_back(static_cast<int32_t>(y[b]));
                           for (int64_t p = 0; p < set.patches; ++p) {
                             set.tokens.push_back(static_cast<int32_t>(t[b][p]));
                           }
                         }
                       });
  set.images = static_cast<int64_t>(set.labels.size());
  return set;
}

TokenLabelSet tokenize_split(const Tokenizer& tokenizer, const Dataset& dataset, int workers,
                             torch::Device device) {
  check_dataset_fits(tokenizer, dataset);
  return tokenize_split(tokenizer, MemoryImageSource(dataset), workers, device);
}

}  // namespace clustermim

