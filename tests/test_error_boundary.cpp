/*
 * One error boundary (issue 20, item 2): every subcommand of the binary, fed a missing file, an
 * unreadable file, a folder where a file is expected, a config value of the wrong type or a
 * corrupt checkpoint, tokenizer or token file, prints exactly one line on stderr, `error: ...`,
 * naming the file or key, never "internal", and exits non-zero. Table-driven: one row per
 * (command, fault), run a few at a time (each costs the binary's start-up, about 0.6 s); every
 * subcommand `clustermim --help` lists has rows. The unreadable-file rows are skipped when the
 * test runs as root (root reads any file).
 */
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "models/mim.h"
#include "support/cli_runner.h"
#include "support/fixtures.h"
#include "tokenizers/tokenizer_factory.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

namespace clustermim {
namespace {

using testing::RunResult;
using testing::TempDir;

struct Fault {
  std::string name;     ///< row label
  std::string args;     ///< the command line; {D} = an IDX dataset, {T} = the test folder
  std::string names;    ///< what the one line must mention (the file or the key)
  bool needs_non_root;  ///< an unreadable-file row
};

std::string expand(std::string text, const std::string& data, const std::string& dir) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{D}", data}, {"{T}", dir}}) {
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key)) {
      text.replace(at, key.size(), value);
    }
  }
  return text;
}

/// Writes `n` pseudo-random bytes to `path`.
void write_random_bytes(const std::string& path, size_t n) {
  std::mt19937 rng(7);
  std::ofstream out(path, std::ios::binary);
  for (size_t i = 0; i < n; ++i) out.put(static_cast<char>(rng() & 0xff));
}

/// Writes the first half of `from` to `to`.
void write_truncated(const std::string& from, const std::string& to) {
  const std::string bytes = testing::slurp(from);
  std::ofstream(to, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
}

/// A real (tiny) checkpoint, saved the way pretrain saves one; returns its path.
std::string write_checkpoint(const std::string& dir) {
  MimConfig mc;
  mc.encoder.image_size = 8;
  mc.encoder.patch_size = 4;
  mc.encoder.dim = 16;
  mc.encoder.depth = 1;
  mc.encoder.heads = 2;
  mc.decoder.dim = 16;
  mc.decoder.depth = 1;
  mc.decoder.heads = 2;
  mc.target = "pixels";
  MimModel model(mc);
  AdamW opt(*model, {});
  CheckpointInfo info;
  info.config = {{"mim", to_json(mc)}, {"stats", {{"mean", {0.5, 0.5, 0.5}}, {"std", {0.2, 0.2, 0.2}}}}};
  return save_checkpoint(dir, *model, &opt, nullptr, info, 1);
}

/// A random tokenizer (K = 4, patch 4) saved to `path`, made in-process.
void write_tokenizer(const std::string& path) {
  const Dataset d = testing::make_color_dataset(4, 8, 2);
  BuildOptions o;
  o.fit.patch_size = 4;
  build_tokenizer(parse_tokenizer_request("random:4"), d, compute_channel_stats(d), o, torch::kCPU)
      ->save(path);
}

class ErrorBoundary : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    data = testing::write_idx_dataset(dir, 32, 16, 28);
    for (const char* folder : {"folder.cmck", "folder.toml", "folder.npy", "checkpoints"}) {
      fs::create_directories(dir.file(folder));
    }
    std::ofstream(dir.file("garbage.cmck")) << "CMCK this is not a checkpoint";
    std::ofstream(dir.file("garbage.cmtk")) << "CMTK this is not a tokenizer";
    std::ofstream(dir.file("garbage.npy")) << "\x93NUMPY this is not an array";
    write_random_bytes(dir.file("random.cmck"), 4096);
    write_random_bytes(dir.file("random.cmtk"), 4096);
    fs::copy_file(write_checkpoint(dir.file("checkpoints")), dir.file("good.cmck"));
    write_truncated(dir.file("good.cmck"), dir.file("truncated.cmck"));
    write_tokenizer(dir.file("good.cmtk"));
    write_truncated(dir.file("good.cmtk"), dir.file("truncated.cmtk"));
    std::ofstream(dir.file("array.toml")) << "[pretrain]\nepochs = [1, 2]\n";
    std::ofstream(dir.file("string.toml")) << "[pretrain]\nepochs = \"ten\"\n";
    std::ofstream(dir.file("methods.toml")) << "[run]\nmethods = [1, 2]\n";
    std::ofstream(dir.file("locked.toml")) << "[pretrain]\nepochs = 1\n";
    std::ofstream(dir.file("locked.cmck")) << "CMCK";
    fs::copy_file(dir.file("good.cmtk"), dir.file("locked.cmtk"));
    for (const char* locked : {"locked.toml", "locked.cmck", "locked.cmtk"}) {
      fs::permissions(dir.file(locked), fs::perms::none);
    }
  }
  TempDir dir;
  std::string data;
};

std::vector<Fault> faults() {
  return {
      // a missing file
      {"data info, missing dataset", "data info --data {T}/nope", "{T}/nope", false},
      {"tokenizer fit, missing dataset", "tokenizer fit --data {T}/nope --kind pixel-kmeans:4 -o {T}/t.cmtk", "{T}/nope", false},
      {"tokenizer fit, missing teacher", "tokenizer fit --data {D} --kind feature-kmeans:4 --teacher {T}/nope.cmck -o {T}/t.cmtk", "{T}/nope.cmck", false},
      {"tokenizer info, missing file", "tokenizer info {T}/nope.cmtk", "{T}/nope.cmtk", false},
      {"tcas, missing tokenizer", "tcas --data {D} --tokenizers {T}/nope.cmtk", "{T}/nope.cmtk", false},
      {"tcas, missing token file", "tcas --tokens {T}/nope.npy", "{T}/nope.npy", false},
      {"pretrain, missing config", "pretrain {T}/nope.toml --out {T}/run", "{T}/nope.toml", false},
      {"pretrain, missing tokenizer.file", "pretrain --set data.dataset={D} --set tokenizer.file={T}/nope.cmtk --out {T}/run", "{T}/nope.cmtk", false},
      {"run, missing config", "run {T}/nope.toml --out {T}/run", "{T}/nope.toml", false},
      {"eval, missing checkpoint", "eval knn --checkpoint {T}/nope.cmck", "{T}/nope.cmck", false},
      {"eval, missing config", "eval linear --random-init vit-tiny-28 --config {T}/nope.toml", "{T}/nope.toml", false},
      {"eval finetune, missing weights", "eval finetune --weights {T}/nope.safetensors --set data.dataset={D} --out {T}/ft", "{T}/nope.safetensors", false},
      {"eval finetune, unknown pooling", "eval finetune --random-init vit-tiny-28 --set data.dataset={D} --set finetune.pooling=max --out {T}/ft", "finetune.pooling", false},
      {"export, missing checkpoint", "export --checkpoint {T}/nope.cmck -o {T}/e.safetensors", "{T}/nope.cmck", false},
      {"tokens show, missing tokenizer", "tokens show --tokenizer {T}/nope.cmtk --data {D} -o {T}/t.png", "{T}/nope.cmtk", false},
      // an unreadable file
      {"pretrain, unreadable config", "pretrain {T}/locked.toml --out {T}/run", "{T}/locked.toml", true},
      {"run, unreadable config", "run {T}/locked.toml --out {T}/run", "{T}/locked.toml", true},
      {"eval, unreadable checkpoint", "eval linear --checkpoint {T}/locked.cmck", "{T}/locked.cmck", true},
      {"export, unreadable checkpoint", "export --checkpoint {T}/locked.cmck -o {T}/e.safetensors", "{T}/locked.cmck", true},
      {"tokenizer info, unreadable file", "tokenizer info {T}/locked.cmtk", "{T}/locked.cmtk", true},
      {"tcas, unreadable tokenizer", "tcas --data {D} --tokenizers {T}/locked.cmtk", "{T}/locked.cmtk", true},
      {"tokens show, unreadable tokenizer", "tokens show --tokenizer {T}/locked.cmtk --data {D} -o {T}/t.png", "{T}/locked.cmtk", true},
      // a folder where a file is expected
      {"tokenizer info, a folder", "tokenizer info {T}/folder.cmck", "{T}/folder.cmck", false},
      {"tokenizer fit, a folder as teacher", "tokenizer fit --data {D} --kind feature-kmeans:4 --teacher {T}/folder.cmck -o {T}/t.cmtk", "{T}/folder.cmck", false},
      {"tokenizer fit, a folder as output", "tokenizer fit --data {D} --kind random:4 -o {T}/folder.cmck", "{T}/folder.cmck", false},
      {"tcas, a folder as tokenizer", "tcas --data {D} --tokenizers {T}/folder.cmck", "{T}/folder.cmck", false},
      {"tcas, a folder as token file", "tcas --tokens {T}/folder.npy", "{T}/folder.npy", false},
      {"pretrain, a folder as config", "pretrain {T}/folder.toml --out {T}/run", "{T}/folder.toml", false},
      {"run, a folder as config", "run {T}/folder.toml --out {T}/run", "{T}/folder.toml", false},
      {"eval, a folder as checkpoint", "eval knn --checkpoint {T}/folder.cmck", "{T}/folder.cmck", false},
      {"export, a folder as checkpoint", "export --checkpoint {T}/folder.cmck -o {T}/e.safetensors", "{T}/folder.cmck", false},
      {"export, a folder as output", "export --checkpoint {T}/good.cmck -o {T}/folder.cmck", "{T}/folder.cmck", false},
      {"tokens show, a folder as tokenizer", "tokens show --tokenizer {T}/folder.cmck --data {D} -o {T}/t.png", "{T}/folder.cmck", false},
      {"data info, a folder that is no dataset", "data info --data {T}/folder.cmck", "{T}/folder.cmck", false},
      // a config value of the wrong type
      {"pretrain, --set a word for a number", "pretrain --set pretrain.epochs=abc --out {T}/run", "pretrain.epochs", false},
      {"pretrain, TOML array for a number", "pretrain {T}/array.toml --out {T}/run", "pretrain.epochs", false},
      {"pretrain, patch not dividing the image", "pretrain --set data.dataset={D} --set model.patch_size=5 --out {T}/run", "model.patch_size", false},
      {"pretrain, width not a multiple of heads", "pretrain --set data.dataset={D} --set model.heads=5 --out {T}/run", "model.heads", false},
      {"pretrain, unknown preset", "pretrain --set data.dataset={D} --set model.preset=vit-huge --out {T}/run", "model.preset", false},
      {"pretrain, TOML string for a number", "pretrain {T}/string.toml --out {T}/run", "pretrain.epochs", false},
      {"pretrain, --set a word for the workers", "pretrain --set data.workers=many --out {T}/run", "data.workers", false},
      {"run, TOML list of numbers for names", "run {T}/methods.toml --out {T}/run", "run.methods", false},
      {"run, --set a list for a number", "run --set eval.knn_k=[1,2] --out {T}/run", "eval.knn_k", false},
      {"eval, --set a word for a flag", "eval knn --random-init vit-tiny-28 --set eval.bf16=maybe", "eval.bf16", false},
      {"eval, TOML string for a number", "eval linear --random-init vit-tiny-28 --config {T}/string.toml", "pretrain.epochs", false},
      // a corrupt checkpoint, tokenizer or token file
      {"eval, corrupt checkpoint", "eval knn --checkpoint {T}/garbage.cmck", "{T}/garbage.cmck", false},
      {"eval, random bytes as checkpoint", "eval linear --checkpoint {T}/random.cmck", "{T}/random.cmck", false},
      {"eval, truncated checkpoint", "eval knn --checkpoint {T}/truncated.cmck", "{T}/truncated.cmck", false},
      {"export, corrupt checkpoint", "export --checkpoint {T}/garbage.cmck -o {T}/e.safetensors", "{T}/garbage.cmck", false},
      {"export, truncated checkpoint", "export --checkpoint {T}/truncated.cmck -o {T}/e.safetensors", "{T}/truncated.cmck", false},
      {"tokenizer fit, corrupt teacher", "tokenizer fit --data {D} --kind feature-kmeans:4 --teacher {T}/garbage.cmck -o {T}/t.cmtk", "{T}/garbage.cmck", false},
      {"tokenizer fit, truncated teacher", "tokenizer fit --data {D} --kind feature-kmeans:4 --teacher {T}/truncated.cmck -o {T}/t.cmtk", "{T}/truncated.cmck", false},
      {"tokenizer info, corrupt tokenizer", "tokenizer info {T}/garbage.cmtk", "{T}/garbage.cmtk", false},
      {"tokenizer info, truncated tokenizer", "tokenizer info {T}/truncated.cmtk", "{T}/truncated.cmtk", false},
      {"tcas, corrupt tokenizer", "tcas --data {D} --tokenizers {T}/garbage.cmtk", "{T}/garbage.cmtk", false},
      {"tcas, random bytes as tokenizer", "tcas --data {D} --tokenizers {T}/random.cmtk", "{T}/random.cmtk", false},
      {"tcas, corrupt token file", "tcas --tokens {T}/garbage.npy", "{T}/garbage.npy", false},
      {"tokens show, truncated tokenizer", "tokens show --tokenizer {T}/truncated.cmtk --data {D} -o {T}/t.png", "{T}/truncated.cmtk", false},
      {"pretrain, corrupt tokenizer.file", "pretrain --set data.dataset={D} --set tokenizer.file={T}/garbage.cmtk --out {T}/run", "{T}/garbage.cmtk", false},
      {"run, truncated tokenizer.file", "run --set data.dataset={D} --set tokenizer.file={T}/truncated.cmtk --out {T}/run", "{T}/truncated.cmtk", false},
  };
}

/// The subcommands `clustermim --help` lists (the words under "Subcommands:").
std::vector<std::string> listed_subcommands(const TempDir& dir) {
  const RunResult help = testing::run_cli(dir, "--help");
  EXPECT_EQ(help.status, 0) << help.err;
  std::istringstream lines(help.out.substr(help.out.find("Subcommands:")));
  std::vector<std::string> names;
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (words >> name) names.push_back(name);
  }
  return names;
}

TEST_F(ErrorBoundary, EveryFaultIsOneLineNamingTheFileOrKey) {
  const bool root = geteuid() == 0;
  std::vector<Fault> rows;
  for (const Fault& f : faults()) {
    if (!f.needs_non_root || !root) rows.push_back(f);  // root reads files whatever their permissions
  }
  // Each row in its own output folder, a few rows at a time.
  std::vector<RunResult> results(rows.size());
  const size_t lanes = std::max(2u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (size_t lane = 0; lane < lanes; ++lane) {
    threads.emplace_back([&, lane] {
      for (size_t i = lane; i < rows.size(); i += lanes) {
        const TempDir out;
        results[i] = testing::run_cli(out, expand(rows[i].args, data, dir.path()) + " --log-level error");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Fault& f = rows[i];
    const RunResult& r = results[i];
    const std::string named = expand(f.names, data, dir.path());
    EXPECT_NE(r.status, 0) << f.name;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << f.name << ":\n" << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << f.name << ":\n" << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << f.name << ": should name " << named << "\n" << r.err;
    EXPECT_EQ(r.err.find("internal"), std::string::npos) << f.name << ":\n" << r.err;
  }
  EXPECT_GE(rows.size(), root ? 48u : 55u);
}

TEST(ErrorBoundaryTable, EverySubcommandHasRows) {
  TempDir dir;
  const std::vector<std::string> names = listed_subcommands(dir);
  EXPECT_GE(names.size(), 8u);
  const std::vector<Fault> rows = faults();
  for (const std::string& name : names) {
    const bool covered = std::any_of(rows.begin(), rows.end(), [&](const Fault& f) {
      return f.args.rfind(name + " ", 0) == 0;
    });
    EXPECT_TRUE(covered) << "no fault rows for `clustermim " << name << "`";
  }
}

}  // namespace
}  // namespace clustermim
