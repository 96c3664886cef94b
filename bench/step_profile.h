/*
 * Where a training step's time goes, operator by operator: LibTorch's legacy CPU profiler records
 * a push and a pop for every operator call on each thread; an operator's self time is its own
 * span minus the spans of the operators it called. Summed by name over the profiled steps, it
 * names the operators that hold the step's time outside the GEMMs (bench_pretrain --profile).
 *
 * The legacy profiler API is LibTorch 1.13's; with 2.x (the GPU builds) profile_self_times
 * returns nothing, as CPU self times say little about asynchronous CUDA work anyway.
 */
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "backend/torch_compat.h"
#if !CLUSTERMIM_TORCH2
#include <torch/csrc/autograd/profiler_legacy.h>
#endif

namespace clustermim::bench {

/// One operator's self time, in milliseconds per profiled step.
struct OpTime {
  std::string name;
  double ms_per_step;
};

/// Runs `step` `steps` times under the profiler; operators sorted by self time, largest first.
template <typename Step>
std::vector<OpTime> profile_self_times(Step step, int steps) {
#if CLUSTERMIM_TORCH2
  (void)step, (void)steps;
  return {};
#else
  namespace prof = torch::autograd::profiler;
  prof::enableProfilerLegacy(prof::ProfilerConfig(prof::ProfilerState::CPU));
  for (int i = 0; i < steps; ++i) step();
  const prof::thread_event_lists threads = prof::disableProfilerLegacy();
  struct Open {
    const prof::LegacyEvent* push;
    double children_us;
  };
  std::map<std::string, double> self_us;
  for (const auto& events : threads) {
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double span = open.push->cpuElapsedUs(e);
        self_us[open.push->name()] += span - open.children_us;
        if (!stack.empty()) stack.back().children_us += span;
      }
    }
  }
  std::vector<OpTime> ops;
  for (const auto& [name, us] : self_us) ops.push_back({name, us / 1000.0 / steps});
  std::sort(ops.begin(), ops.end(),
            [](const OpTime& a, const OpTime& b) { return a.ms_per_step > b.ms_per_step; });
  return ops;
#endif
}

}  // namespace clustermim::bench
