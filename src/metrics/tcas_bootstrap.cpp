/*
 * TCAS of per-image token ids, and its bootstrap over images (see tcas_bootstrap.h).
 *
 * A round draws N image indices with replacement from a counter-based generator keyed by
 * (seed, round), turns them into per-image weights, and recounts the [K, C] table with those
 * weights. Only alpha / chance is needed per round, so it is computed from the table directly
 * (sum_c n_kc (n_k - n_kc) = n_k^2 - sum_c n_kc^2, the same impurity compute_tcas sums per
 * class). Rounds are spread over threads, each with its own table; every round's value lands
 * in its own slot, so the result is the same for any thread count.
 */
#include "metrics/tcas_bootstrap.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace clustermim {

using Real = long double;

TokenLabelView TokenLabelSet::view() const {
  TokenLabelView v;
  v.tokens = tokens.data();
  v.labels = labels.data();
  v.images = images;
  v.patches = patches;
  v.vocab = vocab;
  v.num_classes = num_classes;
  v.labels_per_patch = labels_per_patch;
  return v;
}

namespace {

int64_t label_count(const TokenLabelView& v) {
  return v.labels_per_patch ? v.images * v.patches : v.images;
}

/// The label of patch p of image i.
int32_t label_of(const TokenLabelView& v, int64_t i, int64_t p) {
  return v.labels_per_patch ? v.labels[i * v.patches + p] : v.labels[i];
}

/// splitmix64: a counter-based generator, so round r's draws depend only on (seed, r).
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// How often each of the N images is drawn in round `round`: [N] weights summing to N.
void draw_weights(uint64_t seed, int64_t round, std::vector<int32_t>& weights) {
  const uint64_t n = weights.size();
  std::fill(weights.begin(), weights.end(), 0);
  uint64_t state = mix64(seed ^ mix64(static_cast<uint64_t>(round) + 1));
  for (uint64_t i = 0; i < n; ++i) {
    state = mix64(state);
    ++weights[static_cast<uint64_t>((static_cast<unsigned __int128>(state) * n) >> 64)];
  }
}

/// The weighted [K, C] table of a round, and per token the pairs that a resample adds between
/// copies of one drawn image (see count_weighted).
struct RoundTable {
  std::vector<int64_t> counts;  ///< [K, C]
  std::vector<int64_t> copy_pairs;            ///< [K] ordered pairs between copies of an image
  std::vector<int64_t> copy_pairs_different;  ///< [K] of which the two patches differ in class
  int64_t copy_pairs_all = 0;   ///< ordered pairs between copies of an image, any tokens
  int64_t copy_pairs_same = 0;  ///< of which the two patches share their class
};

/// TCAS of a round's table: alpha / chance, 0 when chance is 0 (one class). Pairs between
/// copies of one image are taken out of every token's pairs and out of chance's pairs of
/// patches, so a resample counts the same kinds of pairs as the estimate: those of two different
/// images, those inside one image and (in chance) a patch with itself.
double tcas_of_table(const RoundTable& t, int64_t vocab, int64_t classes) {
  std::vector<int64_t> per_class(classes, 0);
  Real total = 0, alpha_sum = 0;
  for (int64_t k = 0; k < vocab; ++k) {
    const int64_t* row = t.counts.data() + k * classes;
    int64_t n_k = 0;
    Real squares = 0;
    for (int64_t c = 0; c < classes; ++c) {
      n_k += row[c];
      per_class[c] += row[c];
      squares += static_cast<Real>(row[c]) * row[c];
    }
    total += n_k;
    const Real pairs = static_cast<Real>(n_k) * (n_k - 1) - t.copy_pairs[k];
    const Real different = static_cast<Real>(n_k) * n_k - squares - t.copy_pairs_different[k];
    if (pairs > 0) alpha_sum += n_k * different / pairs;
  }
  if (total == 0) return 0.0;
  Real same = -static_cast<Real>(t.copy_pairs_same);
  for (int64_t n : per_class) same += static_cast<Real>(n) * n;
  const Real chance = 1 - same / (total * total - t.copy_pairs_all);
  return chance > 0 ? static_cast<double>(alpha_sum / total / chance) : 0.0;
}

/// Adds every patch of `v` to `t.counts` [K, C], image i counted weights[i] = m times. The
/// m (m - 1) copies of an image paired with each other hold x_k^2 ordered pairs per ordered
/// pair of copies in token k (x_k: the image's patches of token k, each patch also meeting its
/// own copy), of which x_k^2 - sum_c x_kc^2 differ in class; they go to t.copy_pairs(_different),
/// and the image's L^2 and sum_c x_c^2 (x_c: its patches of class c) to t.copy_pairs_all(_same).
void count_weighted(const TokenLabelView& v, const std::vector<int32_t>& weights, RoundTable& t) {
  t.counts.assign(v.vocab * v.num_classes, 0);
  t.copy_pairs.assign(v.vocab, 0);
  t.copy_pairs_different.assign(v.vocab, 0);
  t.copy_pairs_all = t.copy_pairs_same = 0;
  std::vector<int64_t> keys(v.patches), per_class(v.num_classes, 0);
  for (int64_t i = 0; i < v.images; ++i) {
    const int64_t w = weights[i];
    if (w == 0) continue;
    const int32_t* row = v.tokens + i * v.patches;
    for (int64_t p = 0; p < v.patches; ++p) {
      keys[p] = static_cast<int64_t>(row[p]) * v.num_classes + label_of(v, i, p);
      t.counts[keys[p]] += w;
    }
    if (w == 1) continue;
    const int64_t copies = w * (w - 1);
    int64_t class_squares = 0;
    for (int64_t p = 0; p < v.patches; ++p) ++per_class[keys[p] % v.num_classes];
    for (int64_t p = 0; p < v.patches; ++p) {
      const int64_t c = keys[p] % v.num_classes;
      class_squares += per_class[c] * per_class[c];
      per_class[c] = 0;
    }
    t.copy_pairs_all += copies * v.patches * v.patches;
    t.copy_pairs_same += copies * class_squares;
    std::sort(keys.begin(), keys.end());
    for (int64_t p = 0; p < v.patches;) {  // runs of one token, made of runs of one class
      const int64_t k = keys[p] / v.num_classes;
      int64_t x_k = 0, squares = 0;
      while (p < v.patches && keys[p] / v.num_classes == k) {
        int64_t x_kc = 0;
        for (const int64_t key = keys[p]; p < v.patches && keys[p] == key; ++p) ++x_kc;
        x_k += x_kc;
        squares += x_kc * x_kc;
      }
      t.copy_pairs[k] += copies * x_k * x_k;
      t.copy_pairs_different[k] += copies * (x_k * x_k - squares);
    }
  }
}

/// Runs `rounds` bootstrap rounds over threads; round r writes statistic(weights of r, two
/// scratch tables of the thread) to out[r].
template <typename Statistic>
std::vector<double> run_rounds(int64_t images, const BootstrapOptions& options,
                               const Statistic& statistic) {
  std::vector<double> out(options.rounds);
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = std::min<int64_t>(options.threads > 0 ? options.threads : hw,
                                            std::max<int64_t>(options.rounds, 1));
  auto work = [&](int64_t first) {
    std::vector<int32_t> weights(images);
    RoundTable table_a, table_b;
    for (int64_t r = first; r < options.rounds; r += threads) {
      draw_weights(options.seed, r, weights);
      out[r] = statistic(weights, table_a, table_b);
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& t : pool) t.join();
  return out;
}

/// Linear-interpolated quantile q of sorted values (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

/// The percentile interval [q(tail), q(1 - tail)] of bootstrap values, tail = (1 - level) / 2.
Interval percentile_interval(std::vector<double> values, double level) {
  std::sort(values.begin(), values.end());
  const double tail = (1 - level) / 2;
  return {quantile(values, tail), quantile(values, 1 - tail), static_cast<int64_t>(values.size())};
}

void check_options(const BootstrapOptions& options) {
  CM_REQUIRE(options.rounds >= 0, "bootstrap: rounds must be >= 0, got ", options.rounds);
  CM_REQUIRE(options.level > 0 && options.level < 1, "bootstrap: level must be in (0, 1), got ",
             options.level);
}

}  // namespace

void check_token_labels(const TokenLabelView& v, const std::string& what) {
  CM_REQUIRE(v.images >= 1 && v.patches >= 1, what, ": tokens must be [N, L] with N, L >= 1, got [",
             v.images, ", ", v.patches, "]");
  CM_REQUIRE(v.vocab >= 1, what, ": vocab must be >= 1, got ", v.vocab);
  CM_REQUIRE(v.num_classes >= 1, what, ": number of classes must be >= 1, got ", v.num_classes);
  CM_REQUIRE(v.tokens != nullptr && v.labels != nullptr, what, ": no tokens or labels");
  const int64_t n = v.images * v.patches;
  for (int64_t i = 0; i < n; ++i)
    CM_REQUIRE(v.tokens[i] >= 0 && v.tokens[i] < v.vocab, what, ": token id ", v.tokens[i],
               " at image ", i / v.patches, " patch ", i % v.patches, " is outside [0, ", v.vocab,
               ")");
  for (int64_t i = 0; i < label_count(v); ++i)
    CM_REQUIRE(v.labels[i] >= 0 && v.labels[i] < v.num_classes, what, ": label ", v.labels[i],
               " at position ", i, " is outside [0, ", v.num_classes, ")");
}

TokenClassCounts count_token_labels(const TokenLabelView& v) {
  TokenClassCounts counts(v.vocab, v.num_classes);
  RoundTable table;
  count_weighted(v, std::vector<int32_t>(v.images, 1), table);
  for (int64_t k = 0; k < v.vocab; ++k)
    for (int64_t c = 0; c < v.num_classes; ++c) {
      const int64_t n = table.counts[k * v.num_classes + c];
      if (n > 0) counts.add_count(k, c, n);
    }
  return counts;
}

Interval bootstrap_tcas(const TokenLabelView& v, const BootstrapOptions& options) {
  check_options(options);
  if (options.rounds == 0) return {};
  const std::vector<double> values = run_rounds(v.images, options, [&](const auto& weights,
                                                                       auto& table, auto&) {
    count_weighted(v, weights, table);
    return tcas_of_table(table, v.vocab, v.num_classes);
  });
  return percentile_interval(values, options.level);
}

TcasReport score_tcas(const TokenLabelView& v, const BootstrapOptions& options,
                      const std::string& what) {
  check_options(options);
  check_token_labels(v, what);
  TcasReport report = compute_tcas(count_token_labels(v));
  const Interval interval = bootstrap_tcas(v, options);
  report.tcas_ci_low = interval.low;
  report.tcas_ci_high = interval.high;
  report.bootstrap_rounds = interval.rounds;
  return report;
}

TcasComparison compare_tcas(const TokenLabelView& a, const TokenLabelView& b,
                            const BootstrapOptions& options) {
  check_options(options);
  check_token_labels(a, "compare_tcas: first tokens");
  check_token_labels(b, "compare_tcas: second tokens");
  CM_REQUIRE(a.images == b.images, "compare_tcas: the tokenizations cover ", a.images, " and ",
             b.images, " images; a paired comparison needs the same images");
  CM_REQUIRE(a.num_classes == b.num_classes && label_count(a) == a.images &&
                 label_count(b) == b.images &&
                 std::equal(a.labels, a.labels + a.images, b.labels),
             "compare_tcas: the two tokenizations need the same per-image labels");
  TcasComparison result;
  const std::vector<int32_t> ones(a.images, 1);
  RoundTable table_a, table_b;
  count_weighted(a, ones, table_a);
  count_weighted(b, ones, table_b);
  result.difference = tcas_of_table(table_a, a.vocab, a.num_classes) -
                      tcas_of_table(table_b, b.vocab, b.num_classes);
  if (options.rounds == 0) return result;
  const std::vector<double> diffs = run_rounds(a.images, options, [&](const auto& weights,
                                                                      auto& ta, auto& tb) {
    count_weighted(a, weights, ta);
    count_weighted(b, weights, tb);
    return tcas_of_table(ta, a.vocab, a.num_classes) - tcas_of_table(tb, b.vocab, b.num_classes);
  });
  const int64_t at_most_zero =
      std::count_if(diffs.begin(), diffs.end(), [](double x) { return x <= 0; });
  const int64_t at_least_zero =
      std::count_if(diffs.begin(), diffs.end(), [](double x) { return x >= 0; });
  result.p_value = std::min(1.0, 2.0 * static_cast<double>(std::min(at_most_zero, at_least_zero)) /
                                     static_cast<double>(diffs.size()));
  result.interval = percentile_interval(diffs, options.level);
  return result;
}

}  // namespace clustermim
