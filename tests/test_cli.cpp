/*
 * The clustermim binary as a user runs it: `tcas`, `tokenizer fit|info` and `data info` on an
 * IDX dataset the test writes, and one-line errors with a non-zero exit and no output file on
 * bad input. The binary's path comes from CTest (CLUSTERMIM_BIN).
 */
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/cli_runner.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::RunResult;
using testing::TempDir;
using testing::run_cli;
using testing::slurp;
using testing::write_idx;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    write_idx(dir.path(), "train", 60);
    write_idx(dir.path(), "t10k", 40);
  }
  TempDir dir;
};

TEST_F(Cli, TcasTableAndJson) {
  const RunResult r = run_cli(dir, "tcas --data " + dir.path() +
                                       " --tokenizers label,random:16,pixel-kmeans:2 --json " +
                                       dir.file("tcas.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("pixel-kmeans:2"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(slurp(dir.file("tcas.json")));
  ASSERT_EQ(j.at("rows").size(), 3u);
  EXPECT_EQ(j.at("split"), "test");
  EXPECT_EQ(j["rows"][0].at("tokenizer"), "label");
  EXPECT_DOUBLE_EQ(j["rows"][0].at("tcas").get<double>(), 0.0);
  EXPECT_GT(j["rows"][1].at("tcas").get<double>(), 0.8);
  EXPECT_EQ(j["rows"][2].at("vocab"), 2);
  EXPECT_DOUBLE_EQ(j["rows"][2].at("tcas").get<double>(), 0.0);
}

TEST_F(Cli, FitInfoThenScoreAFile) {
  const std::string tok = dir.file("pix.cmtk");
  RunResult r = run_cli(dir, "tokenizer fit --data " + dir.path() + " --kind pixel-kmeans:3 -o " + tok);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_cli(dir, "tokenizer info " + tok);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("pixel-kmeans"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("8x8x3"), std::string::npos) << r.out;
  // Scored from its file, the tokenizer gives the numbers of the same fit made in place (same
  // split, seed and patch size): 40 test images x 4 patches, the two brightness classes apart.
  r = run_cli(dir, "tcas --data " + dir.path() + " --tokenizers " + tok + ",pixel-kmeans:3 --json " +
                       dir.file("scores.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("pix.cmtk"), std::string::npos) << r.out;
  const auto rows = nlohmann::json::parse(slurp(dir.file("scores.json"))).at("rows");
  ASSERT_EQ(rows.size(), 2u);
  const nlohmann::json& file = rows[0];
  EXPECT_EQ(file.at("file"), tok);
  EXPECT_EQ(file.at("tokenizer"), "pixel-kmeans");
  EXPECT_EQ(file.at("vocab"), 3);
  EXPECT_EQ(file.at("patches"), 160);
  EXPECT_DOUBLE_EQ(file.at("tcas").get<double>(), 0.0);
  for (const char* key : {"tcas", "alpha", "k_used", "perplexity", "nmi", "patches"}) {
    EXPECT_EQ(file.at(key), rows[1].at(key)) << key;
  }
}

TEST_F(Cli, DataInfo) {
  const RunResult r = run_cli(dir, "data info --split test --data " + dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("40 x 8x8x1"), std::string::npos) << r.out;
}

TEST(CliData, CorruptImagesSkippedOrFatalWithStrictData) {
  TempDir dir;
  for (const std::string cls : {"a", "b"}) {
    std::filesystem::create_directories(dir.file("train/" + cls));
    cv::imwrite(dir.file("train/" + cls + "/ok.png"), cv::Mat(8, 8, CV_8UC3, cv::Scalar(cls == "a" ? 10 : 200)));
  }
  std::ofstream(dir.file("train/a/broken.jpg")) << "not a jpeg";
  RunResult r = run_cli(dir, "data info --split train --data " + dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("1 corrupt samples skipped"), std::string::npos) << r.err;
  r = run_cli(dir, "data info --strict-data --split train --data " + dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 corrupt samples (--strict-data"), std::string::npos) << r.err;
}

TEST_F(Cli, BadInputIsOneLineErrorAndNoOutput) {
  const std::string missing = dir.file("no-such-dataset");
  RunResult r = run_cli(dir, "tcas --data " + missing + " --json " + dir.file("out.json"));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::ifstream(dir.file("out.json")).good());

  std::ofstream(dir.file("junk.cmtk")) << "not a tokenizer";
  r = run_cli(dir, "tcas --data " + dir.path() + " --tokenizers " + dir.file("junk.cmtk"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("junk.cmtk"), std::string::npos) << r.err;

  r = run_cli(dir, "tcas --data " + dir.path() + " --tokenizers pixel-kmeans:x");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("pixel-kmeans:x"), std::string::npos) << r.err;
}

TEST(CliRun, PretrainEvaluateAndReport) {
  TempDir dir;
  const std::string data = testing::write_idx_dataset(dir, 64, 32, 28);
  const std::string out = dir.file("run");
  const std::string sets =
      " --set data.dataset=" + data +
      " --set pretrain.epochs=1 --set pretrain.batch_size=16 --set tokenizer.vocab=4"
      " --set tokenizer.max_patches=2000 --set eval.linear_epochs=2 --set eval.linear_batch=32";
  RunResult r = run_cli(dir, "run " + dir.file("none.toml") + " --out " + out + sets);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("error: " + dir.file("none.toml") + ": cannot open", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing is written for a missing config";
  const std::string methods = "'run.methods=[\"clustermim\",\"mae\",\"random-init\"]'";
  r = run_cli(dir, "run --out " + out + sets + " --set run.rounds=2 --set " + methods);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto report = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_NE(report.at("command").get<std::string>().find(" --set " + methods + " "), std::string::npos)
      << "the recorded command is quoted for a shell: " << report["command"];
  ASSERT_EQ(report.at("rows").size(), 4u);
  EXPECT_EQ(report["rows"][0].at("method"), "clustermim");
  EXPECT_EQ(report["rows"][0].at("vocab"), 4);
  EXPECT_EQ(report["rows"][1].at("method"), "clustermim-r2");
  EXPECT_EQ(report["rows"][1].at("tokenizer"), "feature-kmeans");
  EXPECT_TRUE(report["rows"][1].at("tcas").is_number());
  EXPECT_TRUE(report["rows"][1].at("linear_top1").is_number());
  ASSERT_EQ(report.at("rounds").size(), 1u);
  EXPECT_EQ(report["rounds"][0].at("sweep").size(), 7u) << "vit-tiny-28: 6 blocks + final norm";
  EXPECT_TRUE(report["rows"][2].at("linear_top1").is_number());
  EXPECT_EQ(report["config"]["pretrain"]["epochs"], 1);
  EXPECT_EQ(report["config"]["data"]["workers"], 1) << "--workers 1 (run_cli) sets data.workers";
  EXPECT_TRUE(std::filesystem::exists(out + "/report.md"));
  EXPECT_TRUE(std::filesystem::exists(out + "/curves.png"));
  EXPECT_TRUE(std::filesystem::exists(out + "/mae/ckpt-000000004.cmck"));

  r = run_cli(dir, "eval knn --checkpoint " + out + "/mae/ckpt-000000004.cmck --json " +
                       dir.file("knn.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(slurp(dir.file("knn.json"))).at("knn_top1").is_number());

  r = run_cli(dir, "export --checkpoint " + out + "/clustermim/ckpt-000000004.cmck -o " +
                       dir.file("enc.safetensors"));
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_cli(dir, "tcas --data " + data + " --tokenizers feature-kmeans:4 --teacher " +
                       dir.file("enc.safetensors") + " --blocks 0,-1 --max-patches 500 --json " +
                       dir.file("sweep.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto sweep = nlohmann::json::parse(slurp(dir.file("sweep.json")));
  ASSERT_EQ(sweep.at("rows").size(), 2u);
  EXPECT_EQ(sweep["rows"][0].at("block"), 0);
  EXPECT_EQ(sweep["rows"][1].at("request"), "feature-kmeans:4@norm");
  r = run_cli(dir, "tokens show --tokenizer " + out + "/tokenizer-r2.cmtk --data " + data +
                       " --images 4 --pool 20 -o " + dir.file("tokens.png"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(slurp(dir.file("tokens.png")).substr(1, 3), "PNG");

  r = run_cli(dir, "run --out " + out + " --set pretrain.epoch=2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("pretrain.epoch"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace clustermim
