/*
 * Tests of dataset subsets and seeded index samples: sorted distinct draws, and disjoint fit /
 * score parts that stay random when a split is stored class by class (CIFAR folders are).
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "core/error.h"
#include "data/subset.h"

namespace clustermim {
namespace {

TEST(Subset, SampleIndicesAreSortedDistinctAndSeeded) {
  const std::vector<int64_t> a = sample_indices(1000, 100, 3);
  ASSERT_EQ(a.size(), 100u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 100u);
  EXPECT_EQ(a, sample_indices(1000, 100, 3));
  EXPECT_NE(a, sample_indices(1000, 100, 4));
  EXPECT_EQ(sample_indices(5, 9, 3), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Subset, DisjointPartsSeeEveryClassOfAClassOrderedSplit) {
  // 10 classes stored one after the other, 100 images each; the parts cover the whole split.
  const auto [fit, score] = sample_disjoint_indices(1000, 600, 400, 7);
  ASSERT_EQ(fit.size(), 600u);
  ASSERT_EQ(score.size(), 400u);
  std::set<int64_t> all(fit.begin(), fit.end());
  all.insert(score.begin(), score.end());
  EXPECT_EQ(all.size(), 1000u) << "the parts are disjoint";
  for (const auto* part : {&fit, &score}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    std::set<int64_t> classes;
    for (const int64_t i : *part) classes.insert(i / 100);
    EXPECT_EQ(classes.size(), 10u) << "each part is a random sample, not a run of classes";
  }
  EXPECT_THROW(sample_disjoint_indices(10, 6, 5, 7), Error);
}

TEST(Subset, CopiesChosenImagesAndLabels) {
  Dataset d;
  d.height = d.width = 1;
  d.channels = 1;
  d.pixels = {10, 11, 12, 13};
  d.labels = {0, 1, 0, 1};
  d.classes = {"a", "b"};
  const Dataset s = subset_dataset(d, {3, 0});
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{13, 10}));
  EXPECT_EQ(s.labels, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(s.classes, d.classes);
}

}  // namespace
}  // namespace clustermim
