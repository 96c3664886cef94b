/*
 * bf16 where the device computes it: resolve_bf16 turns the config's bf16 switches off for a
 * device without native bf16 (a CPU without AVX512-BF16 or AMX, where autocast emulates bf16 many
 * times slower than fp32) and leaves them on otherwise; `pretrain` saves the resolved switches in
 * its config.json, so a run says in which precision it computed, and `eval knn` / `eval finetune`
 * resolve theirs the same way.
 */
#include <gtest/gtest.h>

#include "backend/runtime.h"
#include "cli/run_config.h"
#include "support/cli_runner.h"

namespace clustermim {
namespace {

using testing::run_cli;
using testing::TempDir;

std::vector<bool> bf16_switches(const nlohmann::json& config) {
  return {pretrain_options(config, "").bf16, eval_options(config).features.bf16,
          finetune_options(config, "").bf16};
}

TEST(DevicePrecision, WithoutNativeBf16EverySwitchThatIsOnTurnsOff) {
  nlohmann::json config = load_run_config("", {});
  ASSERT_EQ(bf16_switches(config), std::vector<bool>({true, true, true})) << "the defaults";
  EXPECT_EQ(resolve_bf16(config, false),
            std::vector<std::string>({"pretrain.bf16", "eval.bf16", "finetune.bf16"}));
  EXPECT_EQ(bf16_switches(config), std::vector<bool>({false, false, false}));

  config = load_run_config("", {"eval.bf16=false"});
  EXPECT_EQ(resolve_bf16(config, false),
            std::vector<std::string>({"pretrain.bf16", "finetune.bf16"}));
}

TEST(DevicePrecision, WithNativeBf16NothingChanges) {
  nlohmann::json config = load_run_config("", {"finetune.bf16=false"});
  const nlohmann::json before = config;
  EXPECT_TRUE(resolve_bf16(config, true).empty());
  EXPECT_EQ(config, before);
}

TEST(DevicePrecision, AGpuComputesBf16) {
  EXPECT_TRUE(native_bf16(torch::Device(torch::kCUDA, 0)));
}

TEST(DevicePrecision, PretrainSavesTheResolvedPrecisionAndEvalResolvesItToo) {
  TempDir dir;
  const std::string data = testing::write_idx_dataset(dir, 32, 8, 28);
  const std::string out = dir.file("run");
  const testing::RunResult r = run_cli(
      dir, "pretrain --out " + out + " --set data.dataset=" + data +
               " --set pretrain.epochs=1 --set pretrain.batch_size=16 --set tokenizer.vocab=4"
               " --set tokenizer.max_patches=2000");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json saved = nlohmann::json::parse(testing::slurp(out + "/config.json"));
  const bool native = native_bf16(torch::kCPU);
  for (const char* section : {"pretrain", "eval", "finetune"})
    EXPECT_EQ(saved[section]["bf16"].get<bool>(), native) << section;
  EXPECT_EQ(r.err.find("no native bf16") == std::string::npos, native) << r.err;

  const std::string checkpoint = " --checkpoint " + out + "/clustermim/ckpt-000000002.cmck";
  for (const std::string& eval :
       {"eval knn" + checkpoint + " --set pretrain.bf16=true --set eval.bf16=true",
        "eval finetune" + checkpoint + " --out " + dir.file("ft") +
            " --set finetune.bf16=true --set finetune.max_steps=1 --set finetune.batch_size=16"}) {
    const testing::RunResult e = run_cli(dir, eval);
    ASSERT_EQ(e.status, 0) << eval << "\n" << e.err;
    EXPECT_EQ(e.err.find("no native bf16") == std::string::npos, native) << eval << "\n" << e.err;
  }
}

}  // namespace
}  // namespace clustermim
