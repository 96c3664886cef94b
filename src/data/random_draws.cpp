/*
 * Normal, Gamma and Beta draws (see random_draws.h).
 */
#include "data/random_draws.h"

#include <cmath>

#include "core/error.h"

namespace clustermim {

double normal01(Rng& rng) {
  const double u1 = 1.0 - uniform01(rng);  // (0, 1]: log(u1) is finite
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double gamma_draw(Rng& rng, double shape) {
  CM_REQUIRE(shape > 0 && std::isfinite(shape), "gamma_draw: shape ", shape, " must be > 0");
  if (shape < 1) {
    const double u = 1.0 - uniform01(rng);
    return gamma_draw(rng, shape + 1) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = normal01(rng);
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1.0 - uniform01(rng);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double beta_draw(Rng& rng, double a, double b) {
  CM_REQUIRE(a > 0 && b > 0, "beta_draw: parameters (", a, ", ", b, ") must be > 0");
  const double x = gamma_draw(rng, a);
  const double y = gamma_draw(rng, b);
  CM_CHECK(x + y > 0, "beta_draw: both gamma draws underflowed");
  return x / (x + y);
}

}  // namespace clustermim
