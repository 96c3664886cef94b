/*
 * clustermim's own parallel loops (at::parallel_for in AdamW and the K-means kernels) run on
 * every intra-op thread: the header template only runs in parallel where the calling code is
 * compiled with OpenMP, and a build that forgets it runs them on one thread, silently.
 */
#include <gtest/gtest.h>

#include "backend/runtime.h"

namespace clustermim {
namespace {

TEST(Parallel, OwnLoopsUseEveryIntraOpThread) {
#ifndef CLUSTERMIM_OPENMP_LOOPS
  GTEST_SKIP() << "built with CLUSTERMIM_OPENMP=OFF: clustermim's loops run serially";
#endif
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const int used = parallel_loop_threads();
  at::set_num_threads(before);
  EXPECT_EQ(used, 2);
}

TEST(Parallel, OneThreadRunsTheLoopInline) {
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const int used = parallel_loop_threads();
  at::set_num_threads(before);
  EXPECT_EQ(used, 1);
}

}  // namespace
}  // namespace clustermim
