/*
 * MAE's patchify / unpatchify: images [B, C, H, W] <-> patch vectors [B, L, p*p*C].
 *
 * Order as in MAE: patches row-major over the (H/p) x (W/p) grid; inside a patch the vector runs
 * over rows, then columns, then channels. Pixel K-means centroids, MAE pixel targets and token
 * maps all rely on this order, so it lives in one place.
 */
#pragma once

#include "backend/torch_pch.h"

namespace clustermim {

/// images [B, C, H, W] -> [B, (H/p)*(W/p), p*p*C]. H and W must be multiples of p.
torch::Tensor patchify(const torch::Tensor& images, int64_t patch);

/// patches [B, L, p*p*C] -> images [B, C, H, W] for a square grid (L = (H/p)^2).
torch::Tensor unpatchify(const torch::Tensor& patches, int64_t patch, int64_t channels);

/// Per-patch normalisation over the last dim: (x - mean) / sqrt(var + eps) (MAE norm_pix).
torch::Tensor normalize_patches(const torch::Tensor& patches, double eps = 1e-6);

}  // namespace clustermim
