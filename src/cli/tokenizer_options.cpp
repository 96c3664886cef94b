/*
 * Tokenizer-fitting options (see tokenizer_options.h).
 */
#include "cli/tokenizer_options.h"

#include <spdlog/spdlog.h>

#include "cli/context.h"
#include "core/error.h"

namespace clustermim {

void add_fit_options(CLI::App& cmd, BuildOptions& o) {
  cmd.add_option("--patch-size", o.fit.patch_size,
                 "Patch size p (default: 4 up to 64-px images, else 16)");
  cmd.add_option("--image-size", o.fit.image_size, "Image size S (default: the dataset's)");
  cmd.add_flag("--normalize-patches", o.fit.normalize_patches,
               "Normalize each patch vector (mean 0, std 1) before K-means");
  cmd.add_option("--max-patches", o.fit.max_patches, "Patch vectors sampled to fit K-means")
      ->capture_default_str();
  cmd.add_option("--iterations", o.fit.iterations, "Maximum Lloyd iterations")
      ->capture_default_str();
  cmd.add_option("--seed", o.fit.seed, "Seed of sampling, k-means++ and the random tokenizer")
      ->capture_default_str();
  add_max_bad_fraction_option(cmd, o.fit.max_bad_fraction);
  cmd.add_option("--teacher", o.teacher,
                 "feature-kmeans: teacher ViT (.cmck checkpoint or timm-named .safetensors)");
  cmd.add_option("--teacher-block", o.teacher_block,
                 "feature-kmeans: block whose output is clustered (0-based; -1 = after the final norm)")
      ->capture_default_str();
  cmd.add_option("--teacher-heads", o.teacher_heads,
                 "feature-kmeans: attention heads of a foreign ViT (default: D / 64)");
  cmd.add_flag("--normalize-features", o.normalize_features,
               "feature-kmeans: L2-normalize patch features (spherical K-means)");
}

BuildOptions resolve_fit_options(BuildOptions o, const ImageSource& fit_split, int workers) {
  if (o.fit.image_size <= 0) o.fit.image_size = fit_split.native_side();
  CM_REQUIRE(o.fit.image_size > 0, fit_split.name(),
             ": images of varying sizes (streamed); pass --image-size S");
  if (o.fit.patch_size <= 0) o.fit.patch_size = default_patch_size(o.fit.image_size);
  CM_REQUIRE(o.fit.image_size % o.fit.patch_size == 0, "--patch-size ", o.fit.patch_size,
             " does not divide the image size ", o.fit.image_size);
  CM_REQUIRE(o.fit.max_patches >= 1, "--max-patches must be >= 1");
  CM_REQUIRE(o.fit.iterations >= 1, "--iterations must be >= 1");
  o.fit.workers = workers;
  o.random_seed = o.fit.seed;
  return o;
}

KMeansProgress log_kmeans_progress(const std::string& name) {
  return [name](int iteration, double objective, int64_t repairs) {
    const int shown = iteration + 1;
    if (repairs > 0) spdlog::info("{}: iteration {}: {} empty clusters re-seeded", name, shown, repairs);
    if (shown % 10 == 0) {
      spdlog::info("{}: iteration {} objective {:.6g}", name, shown, objective);
    } else {
      spdlog::debug("{}: iteration {} objective {:.6g}", name, shown, objective);
    }
  };
}

}  // namespace clustermim
