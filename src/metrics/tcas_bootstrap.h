/*
 * TCAS from token ids held per image, with bootstrap confidence intervals.
 *
 * A TCAS computed on one image set is an estimate: another draw of images gives another value.
 * The spread is estimated by the percentile bootstrap over images (not patches: the patches of
 * an image are not independent): each round draws N images with replacement, weighs every image
 * by how often it was drawn, recounts the contingency table and recomputes TCAS. A resample must
 * count the same kinds of pairs as the estimate: TCAS counts pairs of patches inside one image
 * (always of one class), but a resample would add pairs between two copies of a drawn image
 * (identical tokens, one class, each patch meeting its own copy), biasing every round low; with
 * them, the interval missed the estimate (K = 1024 on Fashion-MNIST: estimate 0.9457, interval
 * [0.9419, 0.9448]). Each round therefore leaves the pairs between copies out, of every token's
 * pairs and of chance's class frequencies. Two tokenizers
 * scored on the same images are compared *paired*: one draw of images per round serves both, so
 * the interval of their difference excludes the image-to-image variation they share.
 * Rounds are independent and seeded by (seed, round), so results do not depend on thread count.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metrics/tcas.h"

namespace clustermim {

/// Token ids and class labels of N images with L patches each: a non-owning, row-major view.
struct TokenLabelView {
  const int32_t* tokens = nullptr;  ///< [N, L] token ids in [0, vocab)
  const int32_t* labels = nullptr;  ///< [N] class ids, or [N, L] when labels_per_patch
  int64_t images = 0;               ///< N
  int64_t patches = 0;              ///< L (tokens per image)
  int64_t vocab = 0;                ///< K
  int64_t num_classes = 0;          ///< C
  bool labels_per_patch = false;    ///< labels are [N, L] rather than [N]
};

/// Token ids and labels owned in memory (what token files and built-in tokenizers produce).
struct TokenLabelSet {
  std::vector<int32_t> tokens;  ///< [N, L]
  std::vector<int32_t> labels;  ///< [N] or [N, L]
  int64_t images = 0;
  int64_t patches = 0;
  int64_t vocab = 0;
  int64_t num_classes = 0;
  bool labels_per_patch = false;

  TokenLabelView view() const;
};

/// Throws Error (prefixed with `what`, e.g. a file name) unless shapes are consistent, every
/// token id is in [0, vocab) and every label in [0, num_classes).
void check_token_labels(const TokenLabelView& view, const std::string& what);

/// The contingency table of a checked view (every patch once).
TokenClassCounts count_token_labels(const TokenLabelView& view);

/// Settings of the percentile bootstrap over images.
struct BootstrapOptions {
  int64_t rounds = 200;  ///< B resamples; 0 = no interval
  uint64_t seed = 0;     ///< rounds are seeded by (seed, round index)
  double level = 0.95;   ///< two-sided coverage of the interval
  int threads = 0;       ///< 0 = all cores; results do not depend on it
};

/// A percentile bootstrap interval of a statistic.
struct Interval {
  double low = 0;
  double high = 0;
  int64_t rounds = 0;  ///< resamples it was computed from (0: no interval)
};

/// The [low, high] interval of TCAS over `options.rounds` resamples of the images.
Interval bootstrap_tcas(const TokenLabelView& view, const BootstrapOptions& options);

/// Checks `view`, counts it and computes TCAS with its companions; with options.rounds > 0 also
/// the bootstrap interval (report.tcas_ci_low / tcas_ci_high / bootstrap_rounds). What the CLI's
/// `tcas` and the Python module's `clustermim.tcas` both call. `what` prefixes errors.
TcasReport score_tcas(const TokenLabelView& view, const BootstrapOptions& options,
                      const std::string& what);

/// Paired comparison of two tokenizations of the same images with the same labels.
struct TcasComparison {
  double difference = 0;  ///< TCAS(a) - TCAS(b) on all images (negative: a is better)
  Interval interval;      ///< of the difference
  double p_value = 1;     ///< two-sided bootstrap p-value of "no difference"
};

/// Compares `a` and `b`, which must hold the same images (N) and the same labels.
TcasComparison compare_tcas(const TokenLabelView& a, const TokenLabelView& b,
                            const BootstrapOptions& options);

}  // namespace clustermim
