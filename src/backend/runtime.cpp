/*
 * Process-wide runtime choices (see runtime.h).
 */
#include "backend/runtime.h"

#include <ATen/Parallel.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"

namespace clustermim {

namespace {

bool cpu_has_flag(const std::string& flag) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (word == flag) return true;
    }
    return false;
  }
  return false;
}

}  // namespace

void prepare_process_environment(char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (std::getenv("CLUSTERMIM_NO_REEXEC") != nullptr) return;
  if (!cpu_has_flag("avx512f")) return;
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
  setenv("CLUSTERMIM_NO_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  // execv only returns on failure: carry on with OpenBLAS's own choice.
}

bool native_bf16(torch::Device device) {
  return !device.is_cpu() || cpu_has_flag("avx512_bf16") || cpu_has_flag("amx_bf16");
}

int configure_threads(int n) {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (n <= 0 && omp != nullptr) n = std::atoi(omp);
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  return n;
}

int parallel_loop_threads() {
  const int n = at::get_num_threads();
  std::vector<int> ran(n, 0);
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) { ran[at::get_thread_num()] = 1; });
  return std::accumulate(ran.begin(), ran.end(), 0);
}

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::kCPU;
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(name);
  } catch (const std::exception&) {
    fail("--device: unknown device '", name, "' (expected auto, cpu, cuda or cuda:N)");
  }
  CM_REQUIRE(!device.is_cuda() || torch::cuda::is_available(), "--device ", name,
             ": CUDA is not available in this build or on this machine");
  return device;
}

}  // namespace clustermim
