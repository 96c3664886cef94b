/*
 * The one place where LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (PyTorch wheels, CUDA) differ.
 *
 * Everything else in clustermim is written against the API both versions share. What differs:
 *  - autocast: 1.13 exposes per-device setters (set_cpu_enabled, set_autocast_cpu_dtype) and no
 *    RAII guard; 2.x takes the device type as an argument. AutocastGuard hides both.
 *  - attention: 2.x has scaled_dot_product_attention (fused/flash kernels on CUDA); 1.13 does not.
 *  - Optimizer::zero_grad: 1.13 zeroes gradients, 2.x sets them undefined (check defined()).
 */
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

namespace clustermim {

#define CLUSTERMIM_TORCH2 (TORCH_VERSION_MAJOR >= 2)

/// Enables autocast to `dtype` on `device` for the guard's lifetime (no-op when !enabled).
class AutocastGuard {
 public:
  AutocastGuard(torch::Device device, torch::ScalarType dtype, bool enabled)
      : device_type_(device.type()), enabled_(enabled) {
    if (!enabled_) return;
#if CLUSTERMIM_TORCH2
    previous_enabled_ = at::autocast::is_autocast_enabled(device_type_);
    previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
    at::autocast::set_autocast_enabled(device_type_, true);
    at::autocast::set_autocast_dtype(device_type_, dtype);
#else
    if (device_type_ == torch::kCUDA) {
      previous_enabled_ = at::autocast::is_enabled();
      previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(dtype);
    } else {
      previous_enabled_ = at::autocast::is_cpu_enabled();
      previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(dtype);
    }
#endif
    at::autocast::increment_nesting();
  }

  ~AutocastGuard() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if CLUSTERMIM_TORCH2
    at::autocast::set_autocast_enabled(device_type_, previous_enabled_);
    at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
#else
    if (device_type_ == torch::kCUDA) {
      at::autocast::set_enabled(previous_enabled_);
      at::autocast::set_autocast_gpu_dtype(previous_dtype_);
    } else {
      at::autocast::set_cpu_enabled(previous_enabled_);
      at::autocast::set_autocast_cpu_dtype(previous_dtype_);
    }
#endif
  }

  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType device_type_;
  bool enabled_;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kBFloat16;
};

}  // namespace clustermim
