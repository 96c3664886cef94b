/*
 * What machine a result came from: the CPU and GPU models as the kernel and the NVIDIA driver
 * report them. Read from /proc so that the torch-free code, and builds without CUDA headers,
 * can name the GPU in run reports and the study's tables.
 */
#pragma once

#include <string>

namespace clustermim {

/// The CPU's model name from /proc/cpuinfo; "unknown" when absent.
std::string cpu_model(const std::string& cpuinfo = "/proc/cpuinfo");

/// The NVIDIA GPUs' models from the driver's `<driver_dir>/<bus id>/information` files, as
/// "NVIDIA H200" for one GPU, "2x NVIDIA H100 80GB HBM3" for identical ones, or the models
/// joined by ", "; "" when the driver lists none.
std::string gpu_model(const std::string& driver_dir = "/proc/driver/nvidia/gpus");

}  // namespace clustermim
