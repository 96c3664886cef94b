/*
 * Process-wide runtime choices: allocator, BLAS core type, compute device and thread count.
 *
 * glibc's malloc returns freed blocks above its mmap/trim thresholds to the kernel, so every
 * training step re-faults its activations page by page; on these VMs that made a vit-tiny-28
 * step ~4x slower (134 vs ~600 img/s measured, bf16, batch 256). `prepare_process_environment`
 * therefore keeps blocks up to 32 MiB on the heap and freed memory (up to 2 GiB) in the process.
 *
 * LibTorch 1.13 starts with one intra-op thread on these machines (it assumes SMT), so the CLI
 * sets the thread count explicitly. OpenBLAS reads OPENBLAS_CORETYPE only at process start:
 * `prepare_process_environment` (called first thing in main) re-executes the binary once with
 * OPENBLAS_CORETYPE=SkylakeX when the CPU has AVX-512 and the variable is unset; a value that is
 * already set is never overridden.
 *
 * bf16 autocast is the default precision where the device computes bf16 (native_bf16); a CPU
 * without AVX512-BF16 or AMX emulates it, and the CLI trains such runs in fp32 instead.
 */
#pragma once

#include <string>

#include "backend/torch_pch.h"

namespace clustermim {

/// Sets the allocator thresholds, then re-executes the process with a safe OPENBLAS_CORETYPE
/// when needed (see file comment). Returns normally when nothing had to change. `argv` is
/// main's argv.
void prepare_process_environment(char** argv);

/// Sets LibTorch's intra-op threads; n <= 0 means OMP_NUM_THREADS when set (as `--nproc` sets it
/// for its workers), else all cores. Returns the count in effect.
int configure_threads(int n);

/// Threads that clustermim's own at::parallel_for loops run on at the current thread count:
/// 1 in a build without OpenMP (CMake option CLUSTERMIM_OPENMP), where they run serially.
int parallel_loop_threads();

/// Whether `device` computes bf16 natively: a CUDA device, or a CPU with AVX512-BF16 or AMX-BF16
/// (oneDNN's bf16 kernels). Elsewhere bf16 autocast is emulated, many times slower than fp32.
bool native_bf16(torch::Device device);

/// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". Throws Error when the
/// requested device is unavailable.
torch::Device resolve_device(const std::string& name);

}  // namespace clustermim
