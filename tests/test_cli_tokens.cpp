/*
 * `tokens encode` and `tcas --tokens` together: a tokenizer's split written as a token file and
 * scored from that file gives the row the tokenizer gives on the dataset itself, and bootstrap
 * intervals and paired comparisons reach the JSON. The binary's path comes from CTest.
 */
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/cli_runner.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::RunResult;
using testing::TempDir;
using testing::run_cli;
using testing::slurp;
using testing::write_idx;

class CliTokens : public ::testing::Test {
 protected:
  void SetUp() override {
    write_idx(dir.path(), "train", 60);
    write_idx(dir.path(), "t10k", 40);
    const RunResult r = run_cli(dir, "tokenizer fit --data " + dir.path() +
                                         " --kind pixel-kmeans:5 --patch-size 4 -o " + tokenizer);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  nlohmann::json rows(const std::string& args) {
    const RunResult r = run_cli(dir, "tcas " + args + " --json " + dir.file("rows.json"));
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(slurp(dir.file("rows.json")));
  }
  TempDir dir;
  std::string tokenizer = dir.file("pix.cmtk");
};

TEST_F(CliTokens, EncodedFileScoresLikeTheTokenizer) {
  const std::string file = dir.file("tokens.npz");
  const RunResult r = run_cli(dir, "tokens encode --tokenizer " + tokenizer + " --data " +
                                       dir.path() + " --split test -o " + file);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("40 images x 4 tokens (K = 5)"), std::string::npos) << r.out;
  const nlohmann::json from_file = rows("--tokens " + file + " --vocab 5 --bootstrap 0")["rows"][0];
  const nlohmann::json from_data =
      rows("--data " + dir.path() + " --tokenizers " + tokenizer + " --bootstrap 0")["rows"][0];
  EXPECT_EQ(from_file.at("patches"), 160);
  for (const char* key : {"tcas", "alpha", "chance", "vocab", "k_used", "perplexity", "collision",
                          "nmi", "left_out_mass", "patches"}) {
    EXPECT_EQ(from_file.at(key), from_data.at(key)) << key;
  }
  // The file knows the classes its labels hold (0 and 1); the dataset lists ten, eight unused.
  ASSERT_EQ(from_file.at("per_class").size(), 2u);
  for (size_t c = 0; c < 2; ++c) EXPECT_EQ(from_file["per_class"][c], from_data["per_class"][c]);
}

TEST_F(CliTokens, IntervalsAndAPairedComparison) {
  const std::string a = dir.file("a.npz");
  const std::string b = dir.file("b.safetensors");
  for (const std::string& out : {a, b}) {
    const RunResult r = run_cli(dir, "tokens encode --tokenizer " + tokenizer + " --data " +
                                         dir.path() + " -o " + out);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  const nlohmann::json j = rows("--tokens " + a + "," + b + " --bootstrap 50 --bootstrap-seed 3");
  ASSERT_EQ(j.at("rows").size(), 2u);
  for (const nlohmann::json& row : j["rows"]) {
    EXPECT_EQ(row.at("bootstrap_rounds"), 50);
    EXPECT_LE(row.at("tcas_ci_low").get<double>(), row.at("tcas").get<double>());
    EXPECT_GE(row.at("tcas_ci_high").get<double>(), row.at("tcas").get<double>());
  }
  ASSERT_EQ(j.at("comparisons").size(), 1u);  // the same images in both files: paired, no gap
  EXPECT_DOUBLE_EQ(j["comparisons"][0].at("difference").get<double>(), 0.0);
}

TEST_F(CliTokens, EncodeRefusesAnUnknownExtensionAndWritesNothing) {
  const RunResult r = run_cli(dir, "tokens encode --tokenizer " + tokenizer + " --data " +
                                       dir.path() + " -o " + dir.file("tokens.txt"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("tokens.txt: not a token file"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("tokens.txt")));
}

}  // namespace
}  // namespace clustermim
