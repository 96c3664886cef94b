/*
 * AdamW, gradient clipping and the MAE learning-rate schedule (see adamw.h).
 */
#include "train/adamw.h"

#include <cmath>

namespace clustermim {

AdamW::AdamW(torch::nn::Module& module, AdamWOptions options) : options_(options) {
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& p = item.value();
    if (!p.requires_grad()) continue;
    const std::string& name = item.key();
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    params_.push_back({name, p, p.dim() > 1 && !is_bias, torch::zeros_like(p), torch::zeros_like(p)});
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (AdamWParam& p : params_) {
    const torch::Tensor& grad = p.value.grad();
    if (!grad.defined()) continue;
    if (p.decay && options_.weight_decay > 0) p.value.mul_(1.0 - lr * options_.weight_decay);
    p.exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    p.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    const torch::Tensor denom = (p.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(options_.eps);
    p.value.addcdiv_(p.exp_avg, denom, -lr / bc1);
  }
}

void AdamW::zero_grad() {
  for (AdamWParam& p : params_) {
    if (p.value.grad().defined()) p.value.mutable_grad().zero_();
  }
}

double clip_grad_norm(std::vector<AdamWParam>& params, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const AdamWParam& p : params) {
    if (p.value.grad().defined()) norms.push_back(p.value.grad().norm(2).to(torch::kFloat32));
  }
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && std::isfinite(total) && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (AdamWParam& p : params) {
      if (p.value.grad().defined()) p.value.mutable_grad().mul_(scale);
    }
  }
  return total;
}

}  // namespace clustermim
