/*
 * Label and random tokenizers (see baseline_tokenizers.h).
 */
#include "tokenizers/baseline_tokenizers.h"

#include "core/error.h"
#include "io/tensor_file.h"

namespace clustermim {

namespace {

/// SplitMix64 finaliser: a well-mixed 64-bit hash.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

torch::Tensor LabelTokenizer::tokenize_checked(const TokenizerInput& input) const {
  CM_REQUIRE(input.labels.defined(), "label tokenizer: the batch carries no labels");
  CM_REQUIRE(input.labels.numel() == 0 || input.labels.max().item<int64_t>() < spec_.vocab,
             "label tokenizer: a label is >= its vocabulary ", spec_.vocab);
  CM_REQUIRE(input.labels.numel() == 0 || input.labels.min().item<int64_t>() >= 0,
             "label tokenizer: the batch holds unlabeled images (label -1)");
  return input.labels.to(input.images.device(), torch::kLong)
      .unsqueeze(1)
      .expand({input.images.size(0), spec_.num_patches()})
      .contiguous();
}

torch::Tensor RandomTokenizer::tokenize_checked(const TokenizerInput& input) const {
  CM_REQUIRE(input.indices.defined(), "random tokenizer: the batch carries no image indices");
  const torch::Tensor indices = input.indices.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t b = indices.size(0), l = spec_.num_patches();
  torch::Tensor tokens = torch::empty({b, l}, torch::kLong);
  const int64_t* idx = indices.data_ptr<int64_t>();
  int64_t* out = tokens.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const uint64_t image_hash = mix64(seed_ ^ mix64(static_cast<uint64_t>(idx[i])));
    for (int64_t p = 0; p < l; ++p) {
      out[i * l + p] = static_cast<int64_t>(mix64(image_hash + static_cast<uint64_t>(p)) %
                                            static_cast<uint64_t>(spec_.vocab));
    }
  }
  return tokens.to(input.images.device());
}

void RandomTokenizer::save_state(TensorFile& file) const { file.meta["seed"] = seed_; }

std::unique_ptr<Tokenizer> make_label_tokenizer(TokenizerSpec base, int64_t num_classes) {
  base.kind = "label";
  base.vocab = num_classes;
  return std::make_unique<LabelTokenizer>(std::move(base));
}

std::unique_ptr<Tokenizer> make_random_tokenizer(TokenizerSpec base, int64_t vocab,
                                                 uint64_t seed) {
  CM_REQUIRE(vocab >= 1, "random tokenizer: vocabulary must be >= 1, got ", vocab);
  base.kind = "random";
  base.vocab = vocab;
  return std::make_unique<RandomTokenizer>(std::move(base), seed);
}

}  // namespace clustermim
