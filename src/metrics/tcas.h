/*
 * TCAS: Token-Class Alignment Similarity (SPEC section 2), and the statistics reported beside it.
 *
 * A tokenizer is scored by how often two patches that share a token come from different classes
 * (alpha, the expected unbiased Gini impurity of tokens), normalized by the same rate for random
 * patch pairs (chance). Lower is better: 0 for the label tokenizer, about 1 for a random one.
 * Counting is streaming and mergeable (one TokenClassCounts per worker/shard, then merge), and all
 * statistics are computed from the contingency table n[k][c] alone, so results do not depend on
 * how images were batched.
 */
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace clustermim {

/// Streaming patch-level contingency counts n[k][c] (token k, class c), stored dense [vocab, C].
class TokenClassCounts {
 public:
  /// vocab >= 1 tokens, num_classes >= 1 classes; all counts start at 0.
  TokenClassCounts(int64_t vocab, int64_t num_classes);

  /// tokens: [batch, patches] row-major token ids in [0, vocab); labels: [batch] class ids in
  /// [0, num_classes). Every patch inherits its image's label. Validates everything before
  /// counting anything, so a throw leaves the counts unchanged.
  void add(const int64_t* tokens, const int64_t* labels, int64_t batch, int64_t patches);

  /// Adds `n >= 0` patches of class `cls` that got token `token` (for tables counted elsewhere).
  void add_count(int64_t token, int64_t cls, int64_t n);

  /// Adds another table of the same [vocab, num_classes] shape (e.g. from another shard).
  void merge(const TokenClassCounts& other);

  /// n[token][cls]; indices must be in range.
  int64_t count(int64_t token, int64_t cls) const;
  int64_t vocab() const { return vocab_; }
  int64_t num_classes() const { return num_classes_; }
  /// N: all patches counted so far.
  int64_t total() const { return total_; }

 private:
  void check_token(int64_t token) const;
  void check_class(int64_t cls) const;

  int64_t vocab_;
  int64_t num_classes_;
  int64_t total_ = 0;
  std::vector<int64_t> counts_;  // [vocab, num_classes] row-major
};

/// One class's share of the TCAS numerator.
struct ClassTcasRow {
  int64_t cls = 0;
  int64_t patches = 0;             ///< n_c
  double error_contribution = 0;   ///< sum_k n_kc (n_k - n_kc) / (N (n_k - 1)), n_k >= 2; sums to alpha
  double error_rate = 0;           ///< error_contribution / P(c); 0 when n_c == 0
  double collision = 0;            ///< P(t = t' | y = y' = c); 0 when n_c < 2
};

/// Everything SPEC 2 asks to report next to TCAS.
struct TcasReport {
  double tcas = 0;           ///< alpha / chance, lower is better; 0 when chance == 0 (one class)
  double alpha = 0;          ///< expected unbiased Gini impurity of tokens with n_k >= 2
  double chance = 0;         ///< 1 - sum_c P(c)^2
  int64_t vocab = 0;         ///< K, the table's token count
  int64_t k_used = 0;        ///< tokens with n_k >= 1
  double perplexity = 0;     ///< exp(H(k)), natural log
  double collision = 0;      ///< sum_{k,c} n_kc(n_kc-1) / sum_c n_c(n_c-1); 0 when no class has 2 patches
  double nmi = 0;            ///< NMI(tokens; classes), arithmetic mean normalization (sklearn)
  double left_out_mass = 0;  ///< fraction of patches in tokens with n_k == 1 (left out of alpha)
  int64_t patches = 0;       ///< N
  double tcas_ci_low = 0;    ///< bootstrap interval of tcas (tcas_bootstrap.h); valid when
  double tcas_ci_high = 0;   ///< bootstrap_rounds > 0
  int64_t bootstrap_rounds = 0;  ///< resamples behind the interval; 0 = none computed
  std::vector<ClassTcasRow> per_class;  ///< [num_classes], every class, in class order
};

/// Computes TCAS and its companions from the counts; throws Error when no patch was counted.
TcasReport compute_tcas(const TokenClassCounts& counts);

/// Flat fields ("tcas_ci_low" / "tcas_ci_high" are null without a bootstrap) plus "per_class": [{"class", "patches", "error_contribution", "error_rate",
/// "collision"}, ...].
nlohmann::json tcas_to_json(const TcasReport& report);

}  // namespace clustermim
