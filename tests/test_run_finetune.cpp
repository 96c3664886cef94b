/*
 * `clustermim run` with eval.finetune_epochs (issue 18): every method's encoder is fine-tuned
 * after k-NN and the linear probe, the random-init row becomes supervised from scratch, the
 * report gets the fine-tune columns and what pretraining bought (computed), a second invocation
 * resumes the fine-tunes instead of redoing them, a changed finetune.* key starts them over, and
 * with the key at 0 none of it appears. A tiny IDX set (2 classes, 28 px) and vit-tiny-28.
 */
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/cli_runner.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::RunResult;
using testing::TempDir;
using testing::run_cli;
using testing::slurp;

TEST(RunFinetune, ColumnsScratchRowResumeAndOff) {
  TempDir dir;
  const std::string data = testing::write_idx_dataset(dir, 32, 16, 28);
  const std::string out = dir.file("run");
  const std::string sets =
      " --set data.dataset=" + data + " --set 'run.methods=[\"mae\",\"random-init\"]'"
      " --set pretrain.epochs=1 --set pretrain.batch_size=16 --set eval.linear_epochs=1"
      " --set eval.linear_batch=16 --set finetune.batch_size=16 --set finetune.warmup_epochs=0";
  RunResult r = run_cli(dir, "run --out " + out + sets + " --set eval.finetune_epochs=-1");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: eval.finetune_epochs must be >= 0 (0 = off), got -1\n");

  const std::string on = "run --out " + out + sets + " --set eval.finetune_epochs=2";
  r = run_cli(dir, on);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto report = nlohmann::json::parse(slurp(out + "/report.json"));
  ASSERT_EQ(report.at("rows").size(), 2u);
  const nlohmann::json& mae = report["rows"][0];
  const nlohmann::json& scratch = report["rows"][1];
  EXPECT_EQ(scratch.at("method"), "random-init");
  for (const nlohmann::json& row : {mae, scratch}) {
    EXPECT_EQ(row.at("finetune_epochs"), 2);
    for (const char* key : {"finetune_top1", "finetune_top1_last", "finetune_top5", "finetune_s"}) {
      ASSERT_TRUE(row.at(key).is_number()) << row["method"] << " " << key;
    }
    EXPECT_GE(row["finetune_top1"].get<double>(), row["finetune_top1_last"].get<double>());
    EXPECT_GT(row["finetune_s"].get<double>(), 0);
  }
  const double gain = 100 * (mae["finetune_top1"].get<double>() - scratch["finetune_top1"].get<double>());
  EXPECT_DOUBLE_EQ(mae.at("finetune_gain_points").get<double>(), gain);
  EXPECT_DOUBLE_EQ(report.at("finetune").at("gain_points").at("mae").get<double>(), gain);
  EXPECT_DOUBLE_EQ(report["finetune"].at("from_scratch").get<double>(),
                   scratch["finetune_top1"].get<double>());
  EXPECT_TRUE(std::filesystem::exists(out + "/mae/finetune/finetune.json"));
  EXPECT_TRUE(std::filesystem::exists(out + "/random-init/finetune/finetune.json"));
  const std::string md = slurp(out + "/report.md");
  EXPECT_NE(md.find("fine-tune top-1 %"), std::string::npos) << md;
  EXPECT_NE(md.find("fine-tune min"), std::string::npos) << md;
  EXPECT_NE(md.find("random-init (from scratch)"), std::string::npos) << md;
  EXPECT_NE(md.find("What pretraining bought over supervised from scratch"), std::string::npos) << md;
  char stated[64];
  std::snprintf(stated, sizeof(stated), "mae %s%.1f points", gain >= 0 ? "+" : "", gain);
  EXPECT_NE(md.find(stated), std::string::npos) << md;

  // The same command again resumes the finished fine-tunes: same scores, nothing restarted.
  r = run_cli(dir, on);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("starting it over"), std::string::npos) << r.err;
  const auto again = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_EQ(again["rows"][0]["finetune_top1"], mae["finetune_top1"]);
  EXPECT_EQ(again["rows"][1]["finetune_top1_last"], scratch["finetune_top1_last"]);

  // A changed recipe does not reuse the old fine-tunes: each starts over, saying why.
  r = run_cli(dir, on + " --set finetune.blr=0.002");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("mae/finetune/ckpt-"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("random-init/finetune/ckpt-"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("finetune.blr is 0.0005 there, 0.002 now"), std::string::npos) << r.err;

  // Off: no fine-tune fields, columns or paragraph.
  r = run_cli(dir, "run --out " + out + sets);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto off = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_FALSE(off.contains("finetune"));
  for (const nlohmann::json& row : off["rows"]) EXPECT_FALSE(row.contains("finetune_top1"));
  const std::string md_off = slurp(out + "/report.md");
  EXPECT_EQ(md_off.find("fine-tune"), std::string::npos) << md_off;
  EXPECT_EQ(md_off.find("from scratch"), std::string::npos) << md_off;

  // --fresh also clears random-init/, which holds only a fine-tune.
  r = run_cli(dir, "run --out " + out + sets + " --fresh");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out + "/random-init"));
}

}  // namespace
}  // namespace clustermim
