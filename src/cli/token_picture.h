/*
 * Token pictures: what a tokenizer does to images, drawn as one PNG (OpenCV).
 *
 * Top: sample images beside their token maps (one colour per token, the same colour everywhere
 * in the picture) and a legend of the most frequent tokens. Below: for each chosen token, its
 * share of patches, a bar of its class mix, and a mosaic of patches it was assigned to, each
 * framed in its image's class colour (unlabeled images: no class names, mix or colours). Pure
 * drawing: the caller tokenizes.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace clustermim {

/// What to draw. Images are `dataset` rows at the tokenizer's size (S x S, uint8 HWC).
struct TokenPictureInput {
  const Dataset* dataset = nullptr;   ///< images (resized to `image_size` when they differ)
  int64_t image_size = 0;             ///< S
  int64_t patch_size = 0;             ///< p (grid = S / p)
  int64_t vocab = 0;                  ///< K
  std::vector<int64_t> images;        ///< dataset rows that were tokenized
  std::vector<int64_t> tokens;        ///< [images.size(), grid*grid] token ids, row-major
  std::vector<int64_t> shown;         ///< positions in `images` to draw beside their token maps
  std::vector<int64_t> chosen;        ///< tokens to draw mosaics for
  int64_t patches_per_token = 24;     ///< mosaic length
  std::string title;                  ///< first line of the picture
};

/// Token ids sorted by how many patches they hold, most frequent first (ties by id).
std::vector<int64_t> tokens_by_frequency(const std::vector<int64_t>& tokens, int64_t vocab);

/// Draws the picture and writes it as PNG (atomically).
void save_token_picture(const TokenPictureInput& input, const std::string& path);

}  // namespace clustermim
