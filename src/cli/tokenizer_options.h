/*
 * The tokenizer-fitting options shared by `tokenizer fit` and `tcas` (one definition, one help
 * text), and the progress logger of K-means fits.
 */
#pragma once

#include <CLI/CLI.hpp>

#include "data/image_source.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {

/// Registers --patch-size, --image-size, --normalize-patches, --max-patches, --iterations,
/// --seed and the feature-kmeans teacher options on `cmd`, writing into `options`.
void add_fit_options(CLI::App& cmd, BuildOptions& options);

/// Fills defaults that depend on the data (image size: the split's native side; patch size from
/// the image size) and validates. Error asking for --image-size when the images vary in size.
BuildOptions resolve_fit_options(BuildOptions options, const ImageSource& fit_split, int workers);

/// Logs one line per K-means iteration at debug level and a summary every 10 at info level.
KMeansProgress log_kmeans_progress(const std::string& name);

}  // namespace clustermim
