/*
 * `clustermim tokens show`: a PNG of what a tokenizer does to a dataset's images (token maps,
 * frequent tokens, and the patches behind chosen tokens with their class mix).
 * `clustermim tokens encode`: a split's token ids [N, L] and labels [N] written to a token file,
 * the format `tcas --tokens` and numpy read (so tokenizations can be scored or compared later).
 * Unlabeled images work with both: no class mix in the picture, the tokens alone in the file.
 * Both read the split in memory or streamed (--storage) as its center squares (kTokenCropRatio),
 * the pixels `tcas` scores; `show` decodes only the --pool images it draws.
 */
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "backend/tensor_batches.h"
#include "cli/context.h"
#include "cli/token_picture.h"
#include "core/error.h"
#include "data/image_source.h"
#include "data/subset.h"
#include "metrics/token_file.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {

namespace {

struct ShowArgs {
  std::string tokenizer;
  std::string data = "fashion-mnist";
  std::string split = "test";
  std::string out = "tokens.png";
  std::string tokens;     ///< comma-separated ids; empty = the most frequent
  int images = 8;         ///< images drawn beside their token maps
  int mosaics = 6;        ///< tokens with a patch mosaic when --tokens is empty
  int pool = 2000;        ///< images tokenized for frequencies, class mixes and mosaics
  int patches = 24;       ///< patches per mosaic
  uint64_t seed = 0;
  StorageArgs storage;
};

std::vector<int64_t> parse_ids(const std::string& text, int64_t vocab) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long id = std::strtoll(item.c_str(), &end, 10);
    CM_REQUIRE(!item.empty() && *end == '\0' && id >= 0 && id < vocab, "--tokens: '", item,
               "' is not a token id in [0, ", vocab, ")");
    ids.push_back(id);
  }
  return ids;
}

struct EncodeArgs {
  std::string tokenizer;
  std::string data = "fashion-mnist";
  std::string split = "test";
  std::string out = "tokens.npz";
  StorageArgs storage;
  double max_bad_fraction = LoaderOptions().max_bad_fraction;
};

/// The images `rows` of `source` as their evaluation crops [side, side, 3] at kTokenCropRatio, in
/// a Dataset of the pool (its memory grows with the pool, not the split); a sample that fails to
/// decode is left out with a warning.
Dataset decode_pool(const ImageSource& source, const std::vector<int64_t>& rows, int side,
                    const SplitInfo& info) {
  Dataset pool;
  pool.name = info.name;
  pool.split = info.split;
  pool.source = info.origin;
  pool.classes = info.classes;
  pool.height = pool.width = side;
  pool.channels = 3;
  std::vector<uint8_t> image(static_cast<size_t>(pool.image_bytes()));
  for (int64_t i : rows) {
    try {
      source.eval(i, side, kTokenCropRatio, image.data());
    } catch (const Error& e) {
      spdlog::warn("{}: skipped ({})", source.sample_name(i), e.what());
      ++pool.skipped;
      continue;
    }
    pool.pixels.insert(pool.pixels.end(), image.begin(), image.end());
    pool.labels.push_back(source.label(i));
  }
  CM_REQUIRE(pool.size() > 0, source.name(), ": none of the ", rows.size(),
             " images drawn could be decoded");
  return pool;
}

/// Opens the split the tokenizer reads, at its image size; only the label tokenizer needs labels.
ImageSplit open_tokenized_split(const std::string& spec, const std::string& split,
                                const Tokenizer& tokenizer, const GlobalOptions& global,
                                const StorageArgs& storage) {
  ImageSplit data = open_split(spec, split, global, tokenizer.spec().image_size, storage);
  if (tokenizer.spec().kind == "label") require_labels(data, "the label tokenizer");
  return data;
}

void run_encode(const EncodeArgs& args, const GlobalOptions& global) {
  const torch::Device device = apply_global_options(global);
  const auto tokenizer = load_tokenizer(args.tokenizer);
  tokenizer->to(device);
  const ImageSplit data =
      open_tokenized_split(args.data, args.split, *tokenizer, global, args.storage);
  const TokenLabelSet set =
      tokenize_split(*tokenizer, *data.source, global.workers, device, kTokenCropRatio,
                     args.max_bad_fraction);
  save_token_labels(args.out, set);
  std::cout << "wrote " << args.out << ": " << set.images << " images x " << set.patches
            << " tokens (K = " << set.vocab << ")\n";
}

void run_show(const ShowArgs& args, const GlobalOptions& global) {
  const torch::Device device = apply_global_options(global);
  CM_REQUIRE(args.images >= 1 && args.pool >= args.images && args.patches >= 1,
             "tokens show: need --images >= 1, --pool >= --images and --patches >= 1");
  const auto tokenizer = load_tokenizer(args.tokenizer);
  tokenizer->to(device);
  const TokenizerSpec& spec = tokenizer->spec();
  const ImageSplit data =
      open_tokenized_split(args.data, args.split, *tokenizer, global, args.storage);
  const SplitInfo info = split_info(data);
  const ImageSource& source = *data.source;
  const Dataset drawn = decode_pool(
      source, sample_indices(source.size(), std::min<int64_t>(args.pool, source.size()), args.seed),
      static_cast<int>(spec.image_size), info);

  TokenPictureInput in;
  in.dataset = &drawn;
  in.image_size = spec.image_size;
  in.patch_size = spec.patch_size;
  in.vocab = spec.vocab;
  for (int64_t i = 0; i < drawn.size(); ++i) in.images.push_back(i);
  EvalPassOptions pass;
  pass.image_size = spec.image_size;
  pass.workers = global.workers;
  for_each_eval_batch(MemoryImageSource(drawn), spec.stats, pass, device,
                      [&](const TensorBatch& b) {
                        const torch::Tensor t =
                            tokenizer->tokenize({b.images, b.labels, b.indices}).to(torch::kCPU).contiguous();
                        in.tokens.insert(in.tokens.end(), t.data_ptr<int64_t>(),
                                         t.data_ptr<int64_t>() + t.numel());
                      });
  const int64_t pool = static_cast<int64_t>(in.images.size());
  for (int64_t i = 0; i < std::min<int64_t>(args.images, pool); ++i) {
    in.shown.push_back(i * pool / std::min<int64_t>(args.images, pool));  // spread over the pool
  }
  if (args.tokens.empty()) {
    const auto order = tokens_by_frequency(in.tokens, spec.vocab);
    in.chosen.assign(order.begin(), order.begin() + std::min<int64_t>(args.mosaics, spec.vocab));
  } else {
    in.chosen = parse_ids(args.tokens, spec.vocab);
  }
  in.patches_per_token = args.patches;
  in.title = spec.kind + " K=" + std::to_string(spec.vocab) + ", patch " +
             std::to_string(spec.patch_size) + ", on " + info.name + " " + info.split + " (" +
             std::to_string(pool) + " images)";
  save_token_picture(in, args.out);
  std::cout << "wrote " << args.out << "\n";
}

}  // namespace

void register_tokens_command(CLI::App& app, GlobalOptions& global) {
  CLI::App* tokens = app.add_subcommand("tokens", "Look at tokens");
  tokens->require_subcommand(1);
  auto args = std::make_shared<ShowArgs>();
  CLI::App* show = tokens->add_subcommand(
      "show", "PNG: sample images beside their token maps, and patch mosaics of chosen tokens");
  show->add_option("--tokenizer", args->tokenizer, "Tokenizer file (.cmtk)")->required();
  show->add_option("--data", args->data, "Dataset: fashion-mnist | mnist | a path")->capture_default_str();
  show->add_option("--split", args->split, "Split to draw from")->capture_default_str();
  show->add_option("-o,--out", args->out, "PNG to write")->capture_default_str();
  show->add_option("--tokens", args->tokens, "Token ids to draw mosaics for (default: most frequent)");
  show->add_option("--images", args->images, "Images drawn with their token maps")->capture_default_str();
  show->add_option("--mosaics", args->mosaics, "Mosaics when --tokens is not given")->capture_default_str();
  show->add_option("--pool", args->pool, "Images tokenized for the statistics")->capture_default_str();
  show->add_option("--patches", args->patches, "Patches per mosaic")->capture_default_str();
  show->add_option("--seed", args->seed, "Seed of the image sample")->capture_default_str();
  add_storage_options(*show, args->storage);
  show->callback([args, &global] { run_show(*args, global); });

  auto encode_args = std::make_shared<EncodeArgs>();
  CLI::App* encode = tokens->add_subcommand(
      "encode", "Token file: a split's token ids [N, L] and labels [N] (.npz, .npy, .safetensors)");
  encode->add_option("--tokenizer", encode_args->tokenizer, "Tokenizer file (.cmtk)")->required();
  encode->add_option("--data", encode_args->data, "Dataset: fashion-mnist | mnist | a path")
      ->capture_default_str();
  encode->add_option("--split", encode_args->split, "Split to encode")->capture_default_str();
  encode->add_option("-o,--out", encode_args->out,
                     ".npz (tokens and labels), .safetensors (the same) or .npy (tokens only)")
      ->capture_default_str();
  add_storage_options(*encode, encode_args->storage);
  add_max_bad_fraction_option(*encode, encode_args->max_bad_fraction);
  encode->callback([encode_args, &global] { run_encode(*encode_args, global); });
}

}  // namespace clustermim
