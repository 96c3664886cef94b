/*
 * `clustermim tcas`: fit (or load) several tokenizers, tokenize a labeled split, and report TCAS
 * with its companions (SPEC section 2) as an aligned table and, optionally, JSON.
 */
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <sstream>

#include "cli/context.h"
#include "cli/tokenizer_options.h"
#include "core/error.h"
#include "models/vit_weights.h"

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
  BuildOptions build;
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

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  CM_REQUIRE(!items.empty(), "--tokenizers: empty list");
  return items;
}

std::vector<std::string> table_row(const std::string& name, const TcasReport& r, double fit_s,
                                   double eval_s) {
  return {name,
          std::to_string(r.vocab),
          fixed(r.tcas, 4),
          fixed(r.alpha, 4),
          std::to_string(r.k_used),
          fixed(r.perplexity, 1),
          fixed(r.collision, 4),
          fixed(r.nmi, 4),
          fixed(r.left_out_mass, 4),
          fixed(fit_s, 1),
          fixed(eval_s, 1)};
}

void print_per_class(const std::string& name, const TcasReport& r, const Dataset& d) {
  std::vector<std::vector<std::string>> rows;
  for (const ClassTcasRow& c : r.per_class) {
    rows.push_back({d.classes[c.cls], std::to_string(c.patches), fixed(c.error_contribution, 4),
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
    const int64_t depth = load_teacher(args.build.teacher, 0, args.build.teacher_heads).encoder->config().depth;
    for (int64_t b = 0; b < depth; ++b) blocks.push_back(b);
    blocks.push_back(-1);
    return blocks;
  }
  for (const std::string& item : split_list(args.blocks)) {
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
  for (const std::string& item : split_list(args.tokenizers)) {
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

void run_tcas(const TcasArgs& args, const GlobalOptions& global) {
  const torch::Device device = apply_global_options(global);
  const std::vector<TcasEntry> entries = tcas_entries(args);
  const Dataset eval = open_dataset(args.data, args.split, global);
  const Dataset fit = args.fit_split == args.split ? eval
                                                   : open_dataset(args.data, args.fit_split, global);
  const ChannelStats stats = compute_channel_stats(fit);
  const BuildOptions resolved = resolve_fit_options(args.build, fit, global.workers);

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
    const TcasReport report =
        compute_tcas(count_token_classes(*tokenizer, eval, global.workers, device));
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
    if (args.per_class) print_per_class(entry.name, report, eval);
  }
  std::cout << "\nTCAS on " << eval.name << " " << eval.split << " (" << eval.size()
            << " images, tokenizers fitted on " << fit.split << "; lower is better)\n"
            << format_table({"tokenizer", "K", "TCAS", "alpha", "K used", "perplexity",
                             "collision", "NMI", "left out", "fit s", "eval s"},
                            table);
  if (!args.json.empty()) {
    write_json(args.json, {{"dataset", eval.name},
                           {"source", eval.source},
                           {"split", eval.split},
                           {"fit_split", fit.split},
                           {"images", eval.size()},
                           {"classes", eval.classes},
                           {"rows", rows}});
    spdlog::info("wrote {}", args.json);
  }
}

}  // namespace

void register_tcas_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<TcasArgs>();
  args->build.fit.patch_size = 0;
  CLI::App* cmd = app.add_subcommand(
      "tcas", "Score tokenizers by Token-Class Alignment Similarity (lower is better)");
  cmd->add_option("--data", args->data, "Dataset: fashion-mnist | mnist | a path")
      ->capture_default_str();
  cmd->add_option("--split", args->split, "Split to evaluate on")->capture_default_str();
  cmd->add_option("--fit-split", args->fit_split, "Split to fit tokenizers and statistics on")
      ->capture_default_str();
  cmd->add_option("--tokenizers", args->tokenizers,
                  "Comma-separated: label, random[:K], pixel-kmeans[:K], feature-kmeans[:K] "
                  "(with --teacher) or tokenizer files")
      ->capture_default_str();
  cmd->add_option("--blocks", args->blocks,
                  "feature-kmeans: sweep teacher blocks, 'all' (every block, then after the "
                  "final norm) or a list such as 0,5,-1");
  cmd->add_option("--json", args->json, "Write the results as JSON to this file");
  cmd->add_option("--save-dir", args->save_dir, "Save the tokenizers fitted here");
  cmd->add_flag("--per-class", args->per_class, "Also print each tokenizer's per-class table");
  add_fit_options(*cmd, args->build);
  cmd->callback([args, &global] { run_tcas(*args, global); });
}

}  // namespace clustermim
