/*
 * Tests for TCAS (src/metrics/tcas.h, SPEC 2): a table worked by hand, the two reference
 * tokenizers (label -> 0, random -> 1), the per-class split of alpha, streaming merges, left-out
 * singleton tokens, input validation, large counts, and NMI against sklearn.
 */
#include "metrics/tcas.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"

namespace clustermim {
namespace {

/// Builds counts from a table given as rows = tokens, columns = classes.
TokenClassCounts from_table(const std::vector<std::vector<int64_t>>& table) {
  TokenClassCounts counts(static_cast<int64_t>(table.size()),
                          static_cast<int64_t>(table.at(0).size()));
  for (size_t k = 0; k < table.size(); ++k)
    for (size_t c = 0; c < table[k].size(); ++c) counts.add_count(k, c, table[k][c]);
  return counts;
}

/// Random images: `batch` labels uniform in [0, classes), `patches` tokens uniform in [0, vocab).
struct RandomBatch {
  std::vector<int64_t> tokens, labels;
};

RandomBatch random_batch(int64_t vocab, int64_t classes, int64_t batch, int64_t patches,
                         uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> token(0, vocab - 1), label(0, classes - 1);
  RandomBatch out;
  for (int64_t b = 0; b < batch; ++b) out.labels.push_back(label(rng));
  for (int64_t i = 0; i < batch * patches; ++i) out.tokens.push_back(token(rng));
  return out;
}

// Rows = tokens, columns = classes: n = [[3, 1], [0, 4]], N = 8, n_k = (4, 4), n_c = (3, 5).
//   purity_0 = (3*2 + 1*0) / (4*3) = 1/2, purity_1 = (0 + 4*3) / (4*3) = 1
//   alpha    = 4/8 * (1 - 1/2) + 4/8 * 0 = 1/4
//   chance   = 1 - (3/8)^2 - (5/8)^2 = 30/64 = 15/32
//   TCAS     = (1/4) / (15/32) = 8/15
//   per class: c0 = 3*(4-3) / (8*3) = 1/8, c1 = 1*(4-1) / (8*3) + 4*0 = 1/8 (sum 1/4);
//              error rates (1/8)/(3/8) = 1/3 and (1/8)/(5/8) = 1/5
//   collision = (3*2 + 0 + 0 + 4*3) / (3*2 + 5*4) = 18/26 = 9/13; per class 6/6 = 1, 12/20 = 3/5
//   perplexity = exp(ln 2) = 2
//   MI = 3/8 ln(8*3/(4*3)) + 1/8 ln(8*1/(4*5)) + 4/8 ln(8*4/(4*5))
//      = 3/8 ln 2 + 1/8 ln(2/5) + 1/2 ln(8/5)
//   H(k) = ln 2, H(c) = -(3/8 ln 3/8 + 5/8 ln 5/8), NMI = MI / ((H(k) + H(c)) / 2)
//   (sklearn 1.2.1 normalized_mutual_info_score gives 0.5615896365639191 for this table)
TEST(TcasHandWorked, TwoTokensTwoClasses) {
  const TcasReport r = compute_tcas(from_table({{3, 1}, {0, 4}}));
  EXPECT_EQ(r.patches, 8);
  EXPECT_EQ(r.vocab, 2);
  EXPECT_EQ(r.k_used, 2);
  EXPECT_NEAR(r.alpha, 0.25, 1e-12);
  EXPECT_NEAR(r.chance, 15.0 / 32.0, 1e-12);
  EXPECT_NEAR(r.tcas, 8.0 / 15.0, 1e-12);
  EXPECT_NEAR(r.collision, 9.0 / 13.0, 1e-12);
  EXPECT_NEAR(r.perplexity, 2.0, 1e-12);
  EXPECT_NEAR(r.left_out_mass, 0.0, 1e-12);
  const double mi = 3.0 / 8 * std::log(2.0) + 1.0 / 8 * std::log(0.4) + 0.5 * std::log(1.6);
  const double h_c = -(3.0 / 8 * std::log(3.0 / 8) + 5.0 / 8 * std::log(5.0 / 8));
  EXPECT_NEAR(r.nmi, mi / ((std::log(2.0) + h_c) / 2), 1e-12);
  EXPECT_NEAR(r.nmi, 0.5615896365639191, 1e-12);
  ASSERT_EQ(r.per_class.size(), 2u);
  EXPECT_EQ(r.per_class[0].patches, 3);
  EXPECT_EQ(r.per_class[1].patches, 5);
  EXPECT_NEAR(r.per_class[0].error_contribution, 0.125, 1e-12);
  EXPECT_NEAR(r.per_class[1].error_contribution, 0.125, 1e-12);
  EXPECT_NEAR(r.per_class[0].error_rate, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.per_class[1].error_rate, 0.2, 1e-12);
  EXPECT_NEAR(r.per_class[0].collision, 1.0, 1e-12);
  EXPECT_NEAR(r.per_class[1].collision, 0.6, 1e-12);
}

TEST(TcasReference, LabelTokenizerIsZero) {
  const int64_t classes = 5, batch = 40, patches = 16;
  std::vector<int64_t> labels, tokens;
  for (int64_t b = 0; b < batch; ++b) {
    labels.push_back((b * 7) % classes);
    for (int64_t p = 0; p < patches; ++p) tokens.push_back(labels.back());
  }
  TokenClassCounts counts(classes, classes);
  counts.add(tokens.data(), labels.data(), batch, patches);
  const TcasReport r = compute_tcas(counts);
  EXPECT_EQ(r.tcas, 0.0);
  EXPECT_EQ(r.alpha, 0.0);
  EXPECT_DOUBLE_EQ(r.collision, 1.0);
  EXPECT_NEAR(r.nmi, 1.0, 1e-12);
  EXPECT_NEAR(r.perplexity, 5.0, 1e-9);
  for (const ClassTcasRow& row : r.per_class) EXPECT_DOUBLE_EQ(row.collision, 1.0);
}

TEST(TcasReference, RandomTokenizerIsAboutOne) {
  const int64_t vocab = 256, classes = 10, batch = 10240, patches = 196;  // 2,007,040 patches
  const RandomBatch data = random_batch(vocab, classes, batch, patches, 20240601);
  TokenClassCounts counts(vocab, classes);
  counts.add(data.tokens.data(), data.labels.data(), batch, patches);
  const TcasReport r = compute_tcas(counts);
  EXPECT_EQ(r.patches, batch * patches);
  EXPECT_EQ(r.k_used, vocab);
  EXPECT_NEAR(r.tcas, 1.0, 0.02);
  EXPECT_NEAR(r.perplexity, 256.0, 1.0);
  EXPECT_LT(r.nmi, 0.01);
  EXPECT_NEAR(r.collision, 1.0 / vocab, 1e-4);
}

TEST(TcasPerClass, ContributionsSumToAlpha) {
  const RandomBatch data = random_batch(32, 7, 300, 49, 7);
  TokenClassCounts counts(32, 7);
  // Skew it: class 0 images also put their first patch on token 0.
  std::vector<int64_t> tokens = data.tokens;
  for (size_t b = 0; b < data.labels.size(); ++b)
    if (data.labels[b] == 0) tokens[b * 49] = 0;
  counts.add(tokens.data(), data.labels.data(), 300, 49);
  const TcasReport r = compute_tcas(counts);
  double sum = 0, weighted_rate = 0;
  for (const ClassTcasRow& row : r.per_class) {
    sum += row.error_contribution;
    weighted_rate += row.error_rate * row.patches / static_cast<double>(r.patches);
  }
  EXPECT_GT(r.alpha, 0.0);
  EXPECT_NEAR(sum, r.alpha, 1e-12);
  EXPECT_NEAR(weighted_rate, r.alpha, 1e-12);
}

TEST(TcasStreaming, MergeOfHalvesEqualsOnePass) {
  const int64_t vocab = 64, classes = 5, batch = 200, patches = 16;
  const RandomBatch data = random_batch(vocab, classes, batch, patches, 99);
  TokenClassCounts whole(vocab, classes), first(vocab, classes), second(vocab, classes);
  whole.add(data.tokens.data(), data.labels.data(), batch, patches);
  first.add(data.tokens.data(), data.labels.data(), 120, patches);
  second.add(data.tokens.data() + 120 * patches, data.labels.data() + 120, batch - 120, patches);
  first.merge(second);
  EXPECT_EQ(first.total(), whole.total());
  for (int64_t k = 0; k < vocab; ++k)
    for (int64_t c = 0; c < classes; ++c) ASSERT_EQ(first.count(k, c), whole.count(k, c));
  EXPECT_EQ(tcas_to_json(compute_tcas(first)), tcas_to_json(compute_tcas(whole)));
  EXPECT_THROW(first.merge(TokenClassCounts(vocab, classes + 1)), Error);
}

// [[3, 1], [0, 4], [1, 0]]: token 2 occurs once, so it is left out of alpha but still counts in N.
// alpha = 4/9 * 1/2 = 2/9, left_out_mass = 1/9.
TEST(TcasLeftOut, SingletonTokensAreExcludedAndReported) {
  const TcasReport r = compute_tcas(from_table({{3, 1}, {0, 4}, {1, 0}}));
  EXPECT_EQ(r.k_used, 3);
  EXPECT_NEAR(r.alpha, 2.0 / 9.0, 1e-12);
  EXPECT_NEAR(r.left_out_mass, 1.0 / 9.0, 1e-12);
  // Every patch its own token: trivially pure, everything left out, no shared targets.
  const TcasReport unique = compute_tcas(from_table({{1, 0}, {0, 1}, {1, 0}, {0, 1}}));
  EXPECT_EQ(unique.alpha, 0.0);
  EXPECT_EQ(unique.left_out_mass, 1.0);
  EXPECT_EQ(unique.collision, 0.0);
}

TEST(TcasValidation, OutOfRangeThrowsAndLeavesCountsUnchanged) {
  TokenClassCounts counts(64, 10);
  const std::vector<int64_t> tokens = {1, 2, 70, 3}, labels = {0, 1};
  try {
    counts.add(tokens.data(), labels.data(), 2, 2);
    FAIL() << "expected clustermim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 70 out of range [0, 64)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(counts.total(), 0);
  EXPECT_EQ(counts.count(1, 0), 0);
  const std::vector<int64_t> good = {1, 2, 3, 4}, bad_labels = {0, 10};
  EXPECT_THROW(counts.add(good.data(), bad_labels.data(), 2, 2), Error);
  const std::vector<int64_t> negative = {0, -1};
  EXPECT_THROW(counts.add(good.data(), negative.data(), 2, 2), Error);
  EXPECT_THROW(counts.add_count(0, 0, -5), Error);
  EXPECT_THROW(TokenClassCounts(0, 3), Error);
  EXPECT_THROW(compute_tcas(counts), Error);  // nothing counted
}

TEST(TcasNumerics, LargeCountsDoNotOverflow) {
  // n_k = 4e9: n_k (n_k - 1) = 1.6e19 does not fit int64. At this scale the unbiased purity is
  // the plain Gini purity to ~1e-9: alpha = 1/2 * (1 - (3/4)^2 - (1/4)^2) = 3/16.
  const int64_t g = 1000000000;
  const TcasReport r = compute_tcas(from_table({{3 * g, g}, {0, 4 * g}}));
  EXPECT_EQ(r.patches, 8 * g);
  EXPECT_NEAR(r.alpha, 3.0 / 16.0, 1e-8);
  EXPECT_NEAR(r.tcas, (3.0 / 16.0) / (15.0 / 32.0), 1e-8);
  EXPECT_NEAR(r.collision, (9.0 + 1.0 + 16.0) / (9.0 + 25.0), 1e-8);  // 13/17
}

// NMI reference from sklearn 1.2.1, computed offline with /usr/bin/python3:
//   normalized_mutual_info_score(labels, tokens) for the table below expanded to one entry per
//   patch -> 0.33835535276704853. Limit cases follow sklearn: both labelings constant -> 1.0;
//   one constant, the other not -> 0.0.
TEST(TcasNmi, MatchesSklearn) {
  const TcasReport r = compute_tcas(from_table({{5, 1, 0}, {2, 6, 1}, {0, 0, 3}, {1, 2, 2}}));
  EXPECT_NEAR(r.nmi, 0.33835535276704853, 1e-12);
  EXPECT_EQ(compute_tcas(from_table({{0, 0}, {3, 0}})).nmi, 1.0);
  EXPECT_EQ(compute_tcas(from_table({{0, 0}, {2, 1}})).nmi, 0.0);
}

TEST(TcasJson, FlatFieldsAndPerClass) {
  const TcasReport r = compute_tcas(from_table({{3, 1}, {0, 4}}));
  const nlohmann::json j = tcas_to_json(r);
  for (const char* key : {"tcas", "alpha", "chance", "vocab", "k_used", "perplexity", "collision",
                          "nmi", "left_out_mass", "patches", "per_class"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_DOUBLE_EQ(j["tcas"].get<double>(), r.tcas);
  ASSERT_EQ(j["per_class"].size(), 2u);
  EXPECT_EQ(j["per_class"][1]["class"].get<int64_t>(), 1);
  EXPECT_EQ(j["per_class"][1]["patches"].get<int64_t>(), 5);
  // One class only: chance = 0, TCAS reported as 0.
  EXPECT_EQ(compute_tcas(from_table({{3}, {2}})).tcas, 0.0);
}

}  // namespace
}  // namespace clustermim
