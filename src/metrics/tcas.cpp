/*
 * TCAS and its companion statistics from a token-class contingency table (see tcas.h, SPEC 2).
 *
 * Numerics: counts are int64 (they can pass 1e9), but every product of two counts is formed in
 * long double, since n_k (n_k - 1) overflows int64 once n_k passes about 3e9. The impurity of a
 * token is computed as sum_c n_kc (n_k - n_kc) / (n_k (n_k - 1)), which equals 1 - purity_k
 * exactly but avoids the cancellation of 1 - purity for nearly pure tokens, and which splits
 * alpha into per-class terms that sum to it. Mutual information is summed term by term
 * (not H(k) + H(c) - H(k,c)) for the same reason.
 */
#include "metrics/tcas.h"

#include <cmath>

#include "core/error.h"

namespace clustermim {

using Real = long double;

TokenClassCounts::TokenClassCounts(int64_t vocab, int64_t num_classes)
    : vocab_(vocab), num_classes_(num_classes) {
  CM_REQUIRE(vocab >= 1, "TCAS: vocab must be >= 1, got ", vocab);
  CM_REQUIRE(num_classes >= 1, "TCAS: num_classes must be >= 1, got ", num_classes);
  CM_REQUIRE(vocab <= (int64_t{1} << 31) / num_classes, "TCAS: table of ", vocab, " tokens x ",
             num_classes, " classes is too large (over 2^31 cells)");
  counts_.assign(static_cast<size_t>(vocab * num_classes), 0);
}

void TokenClassCounts::check_token(int64_t token) const {
  CM_REQUIRE(token >= 0 && token < vocab_, "TCAS: token id ", token, " out of range [0, ", vocab_,
             ")");
}

void TokenClassCounts::check_class(int64_t cls) const {
  CM_REQUIRE(cls >= 0 && cls < num_classes_, "TCAS: class label ", cls, " out of range [0, ",
             num_classes_, ")");
}

void TokenClassCounts::add(const int64_t* tokens, const int64_t* labels, int64_t batch,
                           int64_t patches) {
  CM_REQUIRE(batch >= 0 && patches >= 0, "TCAS: negative shape [", batch, ", ", patches, "]");
  if (batch == 0 || patches == 0) return;
  CM_REQUIRE(tokens != nullptr && labels != nullptr, "TCAS: null tokens or labels");
  const int64_t n = batch * patches;
  for (int64_t b = 0; b < batch; ++b) check_class(labels[b]);
  for (int64_t i = 0; i < n; ++i) check_token(tokens[i]);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t* row = tokens + b * patches;
    for (int64_t p = 0; p < patches; ++p) ++counts_[row[p] * num_classes_ + labels[b]];
  }
  total_ += n;
}

void TokenClassCounts::add_count(int64_t token, int64_t cls, int64_t n) {
  check_token(token);
  check_class(cls);
  CM_REQUIRE(n >= 0, "TCAS: negative count ", n);
  counts_[token * num_classes_ + cls] += n;
  total_ += n;
}

void TokenClassCounts::merge(const TokenClassCounts& other) {
  CM_REQUIRE(other.vocab_ == vocab_ && other.num_classes_ == num_classes_,
             "TCAS: cannot merge counts of shape [", other.vocab_, ", ", other.num_classes_,
             "] into [", vocab_, ", ", num_classes_, "]");
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
}

int64_t TokenClassCounts::count(int64_t token, int64_t cls) const {
  // The range test inline, the throwing checks only on failure: compute_tcas reads every cell
  // three times, and the two calls per read were a fifth of its time at K = 8192.
  if (token < 0 || token >= vocab_ || cls < 0 || cls >= num_classes_) {
    check_token(token);
    check_class(cls);
  }
  return counts_[token * num_classes_ + cls];
}

namespace {

/// Row and column sums of the table: n_k [vocab] and n_c [num_classes].
struct Marginals {
  std::vector<int64_t> token;
  std::vector<int64_t> cls;
};

Marginals marginals(const TokenClassCounts& t) {
  Marginals m{std::vector<int64_t>(t.vocab(), 0), std::vector<int64_t>(t.num_classes(), 0)};
  for (int64_t k = 0; k < t.vocab(); ++k)
    for (int64_t c = 0; c < t.num_classes(); ++c) {
      const int64_t n = t.count(k, c);
      m.token[k] += n;
      m.cls[c] += n;
    }
  return m;
}

/// n (n - 1) in long double (no int64 overflow).
Real pairs(int64_t n) { return static_cast<Real>(n) * static_cast<Real>(n - 1); }

/// Shannon entropy (nats) of the distribution given by counts summing to n_total.
Real entropy(const std::vector<int64_t>& counts, int64_t n_total) {
  Real h = 0;
  for (int64_t n : counts)
    if (n > 0) {
      const Real p = static_cast<Real>(n) / n_total;
      h -= p * std::log(p);
    }
  return h;
}

int64_t count_nonzero(const std::vector<int64_t>& v) {
  int64_t used = 0;
  for (int64_t n : v) used += n > 0;
  return used;
}

/// I(k; c) in nats, summed term by term, clipped at 0 like sklearn. Each term's logarithm is
/// taken in double (its ratio is exact to 1e-16 there): logl made this loop, one term per table
/// cell, most of the cost of TCAS at K = 8192.
Real mutual_information(const TokenClassCounts& t, const Marginals& m) {
  const double n_total = static_cast<double>(t.total());
  Real sum = 0;
  for (int64_t k = 0; k < t.vocab(); ++k)
    for (int64_t c = 0; c < t.num_classes(); ++c) {
      const int64_t n = t.count(k, c);
      if (n == 0) continue;
      const double ratio = n_total * static_cast<double>(n) /
                           (static_cast<double>(m.token[k]) * static_cast<double>(m.cls[c]));
      sum += static_cast<Real>(n) * std::log(ratio);
    }
  const Real mi = sum / static_cast<Real>(n_total);
  return mi > 0 ? mi : 0;
}

/// sklearn's normalized_mutual_info_score (average_method="arithmetic") limit cases: both
/// labelings constant -> 1 (a perfect match); MI == 0 otherwise -> 0; else MI / mean(H).
double sklearn_nmi(Real mi, Real h_token, Real h_class, const Marginals& m) {
  if (count_nonzero(m.token) == 1 && count_nonzero(m.cls) == 1) return 1.0;
  if (mi == 0) return 0.0;
  return static_cast<double>(mi / ((h_token + h_class) / 2));
}

/// Fills per_class rows, alpha, and both collision rates.
void fill_alignment(const TokenClassCounts& t, const Marginals& m, TcasReport& r) {
  const Real n_total = t.total();
  std::vector<Real> contribution(t.num_classes(), 0), same_token(t.num_classes(), 0);
  for (int64_t k = 0; k < t.vocab(); ++k) {
    const int64_t n_k = m.token[k];
    const Real scale = n_k >= 2 ? 1 / (n_total * (n_k - 1)) : 0;  // one division per token
    for (int64_t c = 0; c < t.num_classes(); ++c) {
      const int64_t n = t.count(k, c);
      same_token[c] += pairs(n);
      contribution[c] += static_cast<Real>(n) * (n_k - n) * scale;
    }
  }
  Real alpha = 0, same_all = 0, class_pairs = 0;
  for (int64_t c = 0; c < t.num_classes(); ++c) {
    const int64_t n_c = m.cls[c];
    ClassTcasRow row;
    row.cls = c;
    row.patches = n_c;
    row.error_contribution = static_cast<double>(contribution[c]);
    row.error_rate = n_c > 0 ? static_cast<double>(contribution[c] * n_total / n_c) : 0.0;
    row.collision = n_c >= 2 ? static_cast<double>(same_token[c] / pairs(n_c)) : 0.0;
    r.per_class.push_back(row);
    alpha += contribution[c];
    same_all += same_token[c];
    class_pairs += pairs(n_c);
  }
  r.alpha = static_cast<double>(alpha);
  r.collision = class_pairs > 0 ? static_cast<double>(same_all / class_pairs) : 0.0;
}

/// 1 - sum_c P(c)^2.
double chance_rate(const Marginals& m, int64_t n_total) {
  Real sum_sq = 0;
  for (int64_t n : m.cls) {
    const Real p = static_cast<Real>(n) / n_total;
    sum_sq += p * p;
  }
  const Real chance = 1 - sum_sq;
  return chance > 0 ? static_cast<double>(chance) : 0.0;
}

/// Fraction of patches whose token occurs exactly once.
double singleton_mass(const Marginals& m, int64_t n_total) {
  int64_t singles = 0;
  for (int64_t n : m.token) singles += n == 1;
  return static_cast<double>(singles) / static_cast<double>(n_total);
}

}  // namespace

TcasReport compute_tcas(const TokenClassCounts& counts) {
  CM_REQUIRE(counts.total() > 0, "TCAS: no patches were counted (empty data set?)");
  const Marginals m = marginals(counts);
  TcasReport r;
  r.patches = counts.total();
  r.vocab = counts.vocab();
  r.k_used = count_nonzero(m.token);
  fill_alignment(counts, m, r);
  r.chance = chance_rate(m, r.patches);
  // One class only: no pair can cross classes, alpha is 0 too; report 0 rather than 0/0.
  r.tcas = r.chance > 0 ? r.alpha / r.chance : 0.0;
  const Real h_token = entropy(m.token, r.patches);
  const Real h_class = entropy(m.cls, r.patches);
  r.perplexity = static_cast<double>(std::exp(h_token));
  r.nmi = sklearn_nmi(mutual_information(counts, m), h_token, h_class, m);
  r.left_out_mass = singleton_mass(m, r.patches);
  return r;
}

nlohmann::json tcas_to_json(const TcasReport& r) {
  auto ci = [&](double bound) { return r.bootstrap_rounds > 0 ? nlohmann::json(bound) : nullptr; };
  nlohmann::json rows = nlohmann::json::array();
  for (const ClassTcasRow& row : r.per_class)
    rows.push_back({{"class", row.cls},
                    {"patches", row.patches},
                    {"error_contribution", row.error_contribution},
                    {"error_rate", row.error_rate},
                    {"collision", row.collision}});
  return {{"tcas", r.tcas},
          {"alpha", r.alpha},
          {"chance", r.chance},
          {"vocab", r.vocab},
          {"k_used", r.k_used},
          {"perplexity", r.perplexity},
          {"collision", r.collision},
          {"nmi", r.nmi},
          {"left_out_mass", r.left_out_mass},
          {"patches", r.patches},
          {"tcas_ci_low", ci(r.tcas_ci_low)},
          {"tcas_ci_high", ci(r.tcas_ci_high)},
          {"bootstrap_rounds", r.bootstrap_rounds},
          {"per_class", rows}};
}

}  // namespace clustermim
