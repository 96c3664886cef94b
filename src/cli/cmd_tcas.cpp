/*
 * `clustermim tcas`: fit (or load) several tokenizers, tokenize a labeled split, or read token
 * files of any tokenizer (--tokens), and report TCAS with its companions (SPEC section 2, see
 * docs/TCAS.md) and a bootstrap interval over images as an aligned table and, optionally, JSON.
 * Rows scored on the same images are compared, paired, with the row of the lowest TCAS. The
 * split is held in memory or streamed (--storage); every image, for fitting and for counting, is
 * read as its center square at the tokenizer's side (kTokenCropRatio), normalized by statistics
 * of the same 1000 images on both storages, so folder, archive and shards, in memory or
 * streamed, give the same table.
 */
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/context.h"
#include "cli/run_config.h"
#include "cli/tokenizer_options.h"
#include "core/error.h"
#include "metrics/tcas_bootstrap.h"
#include "metrics/token_file.h"
#include "models/vit_weights.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {

namespace {

struct TcasArgs {
  std::string data = "fashion-mnist";
  std::string split = "test";
  std::string fit_split = "train";
  std::string tokenizers = "label,random:256,pixel-kmeans:16,pixel-kmeans:64,pixel-kmeans:256";
  std::string json;
  std::string save_dir;
  bool per_class = false;
  std::string blocks;  ///< feature-kmeans: "all" or "0,5,-1"; empty = the --teacher-block only
  std::string tokens;  ///< token files, comma-separated; when set no dataset is opened
  std::string labels;  ///< labels file for every token file ("" = the labels inside each)
  int64_t vocab = 0;   ///< K of the token files; 0 = max id + 1
  int64_t bootstrap = 200;  ///< resamples of the images behind each interval; 0 = none
  uint64_t seed = 0;        ///< seed of the resamples
  BuildOptions build;
  StorageArgs storage;
};

/// One scored row, kept until the end for the paired comparisons.
struct ScoredRow {
  std::string name;
  TokenLabelSet set;
  TcasReport report;
};

/// One tokenizer to score: a request, for feature-kmeans at one teacher block.
struct TcasEntry {
  TokenizerRequest request;
  int64_t block = -1;
  std::string name;  ///< row label: the request, plus "@block N" / "@norm" in a block sweep
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::string> split_list(const std::string& text, const std::string& option) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  CM_REQUIRE(!items.empty(), option, ": empty list");
  return items;
}

/// "[low, high]", or "-" without a bootstrap.
std::string interval_text(double low, double high, int64_t rounds) {
  return rounds > 0 ? "[" + fixed(low, 4) + ", " + fixed(high, 4) + "]" : "-";
}

/// A number, or JSON null without a bootstrap.
nlohmann::json or_null(double value, int64_t rounds) {
  return rounds > 0 ? nlohmann::json(value) : nlohmann::json(nullptr);
}

const std::vector<std::string> kTableHeader = {
    "tokenizer", "K", "TCAS", "TCAS 95% CI", "alpha", "K used", "perplexity", "collision",
    "NMI", "left out", "fit s", "eval s"};

/// fit_s < 0: nothing was fitted ("-").
std::vector<std::string> table_row(const std::string& name, const TcasReport& r, double fit_s,
                                   double eval_s) {
  return {name,
          std::to_string(r.vocab),
          fixed(r.tcas, 4),
          interval_text(r.tcas_ci_low, r.tcas_ci_high, r.bootstrap_rounds),
          fixed(r.alpha, 4),
          std::to_string(r.k_used),
          fixed(r.perplexity, 1),
          fixed(r.collision, 4),
          fixed(r.nmi, 4),
          fixed(r.left_out_mass, 4),
          fit_s < 0 ? "-" : fixed(fit_s, 1),
          fixed(eval_s, 1)};
}

void print_per_class(const std::string& name, const TcasReport& r,
                     const std::vector<std::string>& classes) {
  std::vector<std::vector<std::string>> rows;
  for (const ClassTcasRow& c : r.per_class) {
    const std::string cls = c.cls < static_cast<int64_t>(classes.size()) ? classes[c.cls]
                                                                          : std::to_string(c.cls);
    rows.push_back({cls, std::to_string(c.patches), fixed(c.error_contribution, 4),
                    fixed(c.error_rate, 4), fixed(c.collision, 4)});
  }
  std::cout << "\n" << name << " per class\n"
            << format_table({"class", "patches", "share of alpha", "error rate", "collision"},
                            rows);
}

/// The blocks of a sweep: "all" = every block then the final norm (-1), else a list.
std::vector<int64_t> sweep_blocks(const TcasArgs& args) {
  if (args.blocks.empty()) return {args.build.teacher_block};
  std::vector<int64_t> blocks;
  if (args.blocks == "all") {
    CM_REQUIRE(!args.build.teacher.empty(), "--blocks all needs --teacher");
    const int64_t depth = load_encoder(args.build.teacher, 0, args.build.teacher_heads).encoder->config().depth;
    for (int64_t b = 0; b < depth; ++b) blocks.push_back(b);
    blocks.push_back(-1);
    return blocks;
  }
  for (const std::string& item : split_list(args.blocks, "--blocks")) {
    try {
      blocks.push_back(std::stoll(item));
    } catch (const std::exception&) {
      fail("--blocks: '", item, "' is not a block number (use 'all' or e.g. 0,5,-1)");
    }
  }
  return blocks;
}

std::vector<TcasEntry> tcas_entries(const TcasArgs& args) {
  std::vector<TcasEntry> entries;
  const std::vector<int64_t> blocks = sweep_blocks(args);
  for (const std::string& item : split_list(args.tokenizers, "--tokenizers")) {
    const TokenizerRequest request = parse_tokenizer_request(item);
    if (request.kind != "feature-kmeans") {
      entries.push_back({request, -1, item});
      continue;
    }
    for (int64_t b : blocks) {
      const std::string at = args.blocks.empty() ? "" : b < 0 ? "@norm" : "@block" + std::to_string(b);
      entries.push_back({request, b, item + at});
    }
  }
  return entries;
}

BootstrapOptions bootstrap_options(const TcasArgs& args, const GlobalOptions& global) {
  BootstrapOptions options;
  options.rounds = args.bootstrap;
  options.seed = args.seed;
  options.threads = global.threads;
  return options;
}

/// Why `rows` cannot be compared pairwise ("" when they can): a paired comparison needs the same
/// images with the same per-image labels.
std::string why_not_paired(const std::vector<ScoredRow>& rows) {
  if (rows.size() < 2) return "one row";
  for (const ScoredRow& r : rows) {
    if (r.set.labels_per_patch) return r.name + " has per-patch labels";
    if (r.set.images != rows[0].set.images || r.set.labels != rows[0].set.labels) {
      return r.name + " and " + rows[0].name + " do not hold the same images and labels";
    }
  }
  return "";
}

/// Each row against the row of the lowest TCAS: prints the table, returns the JSON array.
nlohmann::json compare_rows(const std::vector<ScoredRow>& rows, const BootstrapOptions& options) {
  nlohmann::json out = nlohmann::json::array();
  const std::string why = why_not_paired(rows);
  if (!why.empty()) {
    if (rows.size() >= 2) std::cout << "\nNo paired comparison: " << why << "\n";
    return out;
  }
  const auto best = std::min_element(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.report.tcas < b.report.tcas;
  });
  std::vector<std::vector<std::string>> table;
  for (const ScoredRow& row : rows) {
    if (&row == &*best) continue;
    const TcasComparison c = compare_tcas(row.set.view(), best->set.view(), options);
    const int64_t rounds = c.interval.rounds;
    out.push_back({{"tokenizer", row.name},
                   {"baseline", best->name},
                   {"difference", c.difference},
                   {"difference_ci_low", or_null(c.interval.low, rounds)},
                   {"difference_ci_high", or_null(c.interval.high, rounds)},
                   {"p_value", or_null(c.p_value, rounds)},
                   {"bootstrap_rounds", rounds}});
    table.push_back({row.name, best->name, fixed(c.difference, 4),
                     interval_text(c.interval.low, c.interval.high, rounds),
                     rounds > 0 ? fixed(c.p_value, 3) : "-"});
  }
  std::cout << "\nPaired with the lowest TCAS (same images, " << options.rounds
            << " bootstrap rounds; an interval above 0: the difference is real)\n"
            << format_table({"tokenizer", "vs", "TCAS difference", "95% CI", "p"}, table);
  return out;
}

std::string interval_caption(const BootstrapOptions& options) {
  return options.rounds > 0 ? "95% CI from " + std::to_string(options.rounds) +
                                  " bootstrap resamples of the images"
                            : "no bootstrap";
}

nlohmann::json bootstrap_json(const BootstrapOptions& options) {
  return {{"rounds", options.rounds}, {"seed", options.seed}, {"level", options.level}};
}

/// Images scored (the first row's: every row tokenizes the same split; samples that failed to
/// decode are left out).
int64_t set_images(const std::vector<ScoredRow>& rows) {
  return rows.empty() ? 0 : rows.front().set.images;
}

/// `tcas --tokens`: token files of any tokenizer, no dataset.
void run_token_files(const TcasArgs& args, const GlobalOptions& global) {
  apply_global_options(global);
  const BootstrapOptions options = bootstrap_options(args, global);
  const std::vector<std::string> files = split_list(args.tokens, "--tokens");
  std::vector<std::string> names;
  for (const std::string& file : files) {
    const std::string base = std::filesystem::path(file).filename().string();
    const bool unique = std::count_if(files.begin(), files.end(), [&](const std::string& f) {
                          return std::filesystem::path(f).filename().string() == base;
                        }) == 1;
    names.push_back(unique ? base : file);
  }
  std::vector<ScoredRow> scored;
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::vector<std::string>> table;
  int64_t classes = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    TokenLabelSet set = load_token_labels(files[i], args.labels, args.vocab);
    const TcasReport report = score_tcas(set.view(), options, files[i]);
    const double eval_s = seconds_since(start);
    spdlog::info("{}: TCAS {:.4f} ({} images x {} tokens, {:.1f} s)", names[i], report.tcas,
                 set.images, set.patches, eval_s);
    nlohmann::json row = tcas_to_json(report);
    row["tokenizer"] = "file";
    row["request"] = names[i];
    row["file"] = files[i];
    row["images"] = set.images;
    row["tokens_per_image"] = set.patches;
    row["labels_per_patch"] = set.labels_per_patch;
    row["eval_seconds"] = eval_s;
    rows.push_back(row);
    table.push_back(table_row(names[i], report, -1, eval_s));
    classes = std::max(classes, set.num_classes);
    if (args.per_class) print_per_class(names[i], report, {});
    scored.push_back({names[i], std::move(set), report});
  }
  const bool same_images = std::all_of(scored.begin(), scored.end(), [&](const ScoredRow& r) {
    return r.set.images == scored[0].set.images;
  });
  std::cout << "\nTCAS of token files (";
  if (same_images) std::cout << scored[0].set.images << " images, ";
  std::cout << classes << " classes, " << interval_caption(options) << "; lower is better)\n"
            << format_table(kTableHeader, table);
  const nlohmann::json comparisons = compare_rows(scored, options);
  if (!args.json.empty()) {
    write_json(args.json, {{"source", "token files"},
                           {"labels", args.labels.empty() ? nlohmann::json(nullptr)
                                                          : nlohmann::json(args.labels)},
                           {"images", same_images ? nlohmann::json(scored[0].set.images)
                                                  : nlohmann::json(nullptr)},
                           {"num_classes", classes},
                           {"bootstrap", bootstrap_json(options)},
                           {"rows", rows},
                           {"comparisons", comparisons}});
    spdlog::info("wrote {}", args.json);
  }
}

void run_tcas(const TcasArgs& args, const GlobalOptions& global) {
  if (!args.tokens.empty()) return run_token_files(args, global);
  const torch::Device device = apply_global_options(global);
  const std::vector<TcasEntry> entries = tcas_entries(args);
  const int side = args.build.fit.image_size;
  const ImageSplit eval_split = open_split(args.data, args.split, global, side, args.storage);
  require_labels(eval_split, "tcas");
  std::optional<ImageSplit> other;
  if (args.fit_split != args.split) {
    other = open_split(args.data, args.fit_split, global, side, args.storage);
  }
  const ImageSplit& fit_split = other ? *other : eval_split;
  const ImageSource& eval = *eval_split.source;
  const ImageSource& fit = *fit_split.source;
  const SplitInfo eval_info = split_info(eval_split), fit_info = split_info(fit_split);
  BuildOptions resolved = resolve_fit_options(args.build, fit, global.workers);
  resolved.fit.crop_ratio = kTokenCropRatio;
  const ChannelStats stats =
      sampled_channel_stats(fit_split, kChannelStatsSample, resolved.fit.image_size);
  const BootstrapOptions options = bootstrap_options(args, global);

  std::vector<ScoredRow> scored;
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::vector<std::string>> table;
  for (const TcasEntry& entry : entries) {
    const TokenizerRequest& request = entry.request;
    BuildOptions build = resolved;
    build.teacher_block = entry.block;
    auto start = std::chrono::steady_clock::now();
    auto tokenizer =
        build_tokenizer(request, fit, stats, build, device, log_kmeans_progress(entry.name));
    const double fit_s = seconds_since(start);
    if (!args.save_dir.empty() && request.path.empty()) {
      std::string file = entry.name;
      std::replace(file.begin(), file.end(), ':', '-');
      std::replace(file.begin(), file.end(), '@', '-');
      tokenizer->save(args.save_dir + "/" + file + ".cmtk");
    }
    start = std::chrono::steady_clock::now();
    TokenLabelSet set = tokenize_split(*tokenizer, eval, global.workers, device, kTokenCropRatio,
                                       args.build.fit.max_bad_fraction);
    const TcasReport report = score_tcas(set.view(), options, entry.name);
    const double eval_s = seconds_since(start);
    spdlog::info("{}: TCAS {:.4f} (fit {:.1f} s, eval {:.1f} s)", entry.name, report.tcas, fit_s,
                 eval_s);

    nlohmann::json row = tcas_to_json(report);
    row["tokenizer"] = request.path.empty() ? request.kind : tokenizer->spec().kind;
    row["request"] = entry.name;
    if (!request.path.empty()) row["file"] = request.path;
    if (request.kind == "feature-kmeans") {
      row["teacher"] = build.teacher;
      row["block"] = entry.block;
    }
    row["patch_size"] = tokenizer->spec().patch_size;
    row["fit_seconds"] = fit_s;
    row["eval_seconds"] = eval_s;
    rows.push_back(row);
    table.push_back(table_row(entry.name, report, fit_s, eval_s));
    if (args.per_class) print_per_class(entry.name, report, eval_info.classes);
    scored.push_back({entry.name, std::move(set), report});
  }
  std::cout << "\nTCAS on " << eval_info.name << " " << eval_info.split << " (" << set_images(scored)
            << " images, tokenizers fitted on " << fit_info.split << ", " << interval_caption(options)
            << "; lower is better)\n"
            << format_table(kTableHeader, table);
  const nlohmann::json comparisons = compare_rows(scored, options);
  if (!args.json.empty()) {
    write_json(args.json, {{"dataset", eval_info.name},
                           {"source", eval_info.origin},
                           {"split", eval_info.split},
                           {"fit_split", fit_info.split},
                           {"storage", eval_split.streamed() ? "stream" : "memory"},
                           {"images", set_images(scored)},
                           {"classes", eval_info.classes},
                           {"bootstrap", bootstrap_json(options)},
                           {"rows", rows},
                           {"comparisons", comparisons}});
    spdlog::info("wrote {}", args.json);
  }
}

}  // namespace

void register_tcas_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<TcasArgs>();
  args->build.fit.patch_size = 0;
  CLI::App* cmd = app.add_subcommand(
      "tcas", "Score tokenizers or token files by Token-Class Alignment Similarity (lower is "
              "better)");
  cmd->footer("TCAS, its diagnostics and how to read the tables: docs/TCAS.md");
  CLI::Option* data = cmd->add_option("--data", args->data, "Dataset: fashion-mnist | mnist | a path")
      ->capture_default_str();
  CLI::Option* split = cmd->add_option("--split", args->split, "Split to evaluate on")->capture_default_str();
  CLI::Option* fit_split =
      cmd->add_option("--fit-split", args->fit_split, "Split to fit tokenizers and statistics on")
      ->capture_default_str();
  CLI::Option* tokenizers =
      cmd->add_option("--tokenizers", args->tokenizers,
                      "Comma-separated: label, random[:K], pixel-kmeans[:K], feature-kmeans[:K] "
                      "(with --teacher) or tokenizer files")
      ->capture_default_str();
  CLI::Option* blocks =
      cmd->add_option("--blocks", args->blocks,
                      "feature-kmeans: sweep teacher blocks, 'all' (every block, then after the "
                      "final norm) or a list such as 0,5,-1");
  CLI::Option* tokens =
      cmd->add_option("--tokens", args->tokens,
                      "Score token files instead (no dataset): comma-separated .npy / .npz / "
                      ".safetensors holding token ids [N, L] (and labels [N] or [N, L])");
  for (CLI::Option* o : {data, split, fit_split, tokenizers, blocks}) tokens->excludes(o);
  cmd->add_option("--labels", args->labels,
                  "With --tokens: labels [N] or [N, L] for every token file (.npy, or 'labels' "
                  "in .npz / .safetensors); default: the labels inside each token file")
      ->needs(tokens);
  cmd->add_option("--vocab", args->vocab, "With --tokens: K (0 = max id + 1)")
      ->capture_default_str()
      ->needs(tokens);
  cmd->add_option("--bootstrap", args->bootstrap,
                  "Bootstrap resamples of the images behind each 95% interval and paired "
                  "comparison (0 = none)")
      ->capture_default_str();
  cmd->add_option("--bootstrap-seed", args->seed, "Seed of the bootstrap resamples")->capture_default_str();
  cmd->add_option("--json", args->json, "Write the results as JSON to this file");
  cmd->add_option("--save-dir", args->save_dir, "Save the tokenizers fitted here")->excludes(tokens);
  cmd->add_flag("--per-class", args->per_class, "Also print each tokenizer's per-class table");
  add_fit_options(*cmd, args->build);
  add_storage_options(*cmd, args->storage);
  cmd->callback([args, &global] { run_tcas(*args, global); });
}

}  // namespace clustermim
