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
  BuildOptions build;
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

void run_tcas(const TcasArgs& args, const GlobalOptions& global) {
  const torch::Device device = apply_global_options(global);
  std::vector<TokenizerRequest> requests;
  for (const std::string& item : split_list(args.tokenizers)) {
    requests.push_back(parse_tokenizer_request(item));
  }
  const Dataset eval = open_dataset(args.data, args.split, global);
  const Dataset fit = args.fit_split == args.split ? eval
                                                   : open_dataset(args.data, args.fit_split, global);
  const ChannelStats stats = compute_channel_stats(fit);
  const BuildOptions build = resolve_fit_options(args.build, fit, global.workers);

  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::vector<std::string>> table;
  for (const TokenizerRequest& request : requests) {
    auto start = std::chrono::steady_clock::now();
    auto tokenizer =
        build_tokenizer(request, fit, stats, build, device, log_kmeans_progress(request.text));
    const double fit_s = seconds_since(start);
    if (!args.save_dir.empty() && request.path.empty()) {
      std::string file = request.text;
      std::replace(file.begin(), file.end(), ':', '-');
      tokenizer->save(args.save_dir + "/" + file + ".cmtk");
    }
    start = std::chrono::steady_clock::now();
    const TcasReport report =
        compute_tcas(count_token_classes(*tokenizer, eval, global.workers, device));
    const double eval_s = seconds_since(start);
    spdlog::info("{}: TCAS {:.4f} (fit {:.1f} s, eval {:.1f} s)", request.text, report.tcas, fit_s,
                 eval_s);

    nlohmann::json row = tcas_to_json(report);
    row["tokenizer"] = request.path.empty() ? request.kind : tokenizer->spec().kind;
    row["request"] = request.text;
    if (!request.path.empty()) row["file"] = request.path;
    row["patch_size"] = tokenizer->spec().patch_size;
    row["fit_seconds"] = fit_s;
    row["eval_seconds"] = eval_s;
    rows.push_back(row);
    table.push_back(table_row(request.text, report, fit_s, eval_s));
    if (args.per_class) print_per_class(request.text, report, eval);
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
                  "Comma-separated: label, random[:K], pixel-kmeans[:K] or tokenizer files")
      ->capture_default_str();
  cmd->add_option("--json", args->json, "Write the results as JSON to this file");
  cmd->add_option("--save-dir", args->save_dir, "Save the tokenizers fitted here");
  cmd->add_flag("--per-class", args->per_class, "Also print each tokenizer's per-class table");
  add_fit_options(*cmd, args->build);
  cmd->callback([args, &global] { run_tcas(*args, global); });
}

}  // namespace clustermim
