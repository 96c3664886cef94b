/*
 * The two reference tokenizers of a TCAS study (SPEC section 3):
 *   label   every patch gets its image's class: the class-wise optimum (uses labels; TCAS = 0)
 *   random  a uniform token per patch, a fixed function of (seed, image index, patch position):
 *           the class-blind mixture (TCAS ~ 1)
 */
#pragma once

#include "tokenizers/tokenizer.h"

namespace clustermim {

/// token[b, l] = labels[b]; vocab = number of classes.
class LabelTokenizer : public Tokenizer {
 public:
  explicit LabelTokenizer(TokenizerSpec spec) : Tokenizer(std::move(spec)) {}

 protected:
  torch::Tensor tokenize_checked(const TokenizerInput& input) const override;
};

/// token[b, l] = mix(seed, indices[b], l) mod vocab, uniform over [0, vocab).
class RandomTokenizer : public Tokenizer {
 public:
  RandomTokenizer(TokenizerSpec spec, uint64_t seed) : Tokenizer(std::move(spec)), seed_(seed) {}

 protected:
  torch::Tensor tokenize_checked(const TokenizerInput& input) const override;
  void save_state(TensorFile& file) const override;

 private:
  uint64_t seed_;
};

/// The geometry both need: `base` carries image size, patch size, stats and dataset name.
std::unique_ptr<Tokenizer> make_label_tokenizer(TokenizerSpec base, int64_t num_classes);
std::unique_ptr<Tokenizer> make_random_tokenizer(TokenizerSpec base, int64_t vocab, uint64_t seed);

}  // namespace clustermim
