/*
 * The command line on data of any size (issue 17): `clustermim run` streamed end to end on a
 * generated folder of photo-sized JPEGs (varied sizes and aspect ratios, some grayscale, one
 * PNG, one corrupt and one truncated file, each named by every pass and counted in the report)
 * with a tiny custom ViT; the same images as an unlabeled folder pretrained without labels,
 * with the steps that need labels skipped and said so, token pictures and token files made
 * without them, and every
 * command that needs labels refusing it in one line; `eval finetune` of timm-named weights at
 * 224 px on such a folder (issue 18); --max-bad-fraction of the commands without a config;
 * --storage parsed on every command that reads --data; and the
 * ImageNet configs resolving without any data.
 */
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "cli/run_config.h"
#include "io/npy.h"
#include "models/vit_weights.h"
#include "support/cli_runner.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;
using testing::RunResult;
using testing::TempDir;
using testing::run_cli;
using testing::slurp;

/// Writes `root`/<split>/<class>/ (split "" = no split folder) with `per_class` photo-like images
/// per class of two classes: class a warm and dark, class b cool and bright, with noise. Sizes
/// cycle through 120x90 .. 200x150 in both orientations, every seventh image is grayscale, the
/// first of class b is a PNG.
void write_photos(const std::string& root, const std::string& split, int per_class, int seed) {
  const int sizes[][2] = {{120, 90}, {200, 150}, {160, 120}, {150, 150}, {90, 120}, {180, 100}};
  cv::RNG rng(seed);
  int n = 0;
  for (const std::string cls : {"a", "b"}) {
    const fs::path dir = fs::path(root) / split / cls;
    fs::create_directories(dir);
    for (int i = 0; i < per_class; ++i, ++n) {
      const int w = sizes[n % 6][0], h = sizes[n % 6][1];
      const cv::Scalar bgr = cls == "a" ? cv::Scalar(40, 60, 200) : cv::Scalar(210, 80, 40);
      cv::Mat image(h, w, CV_8UC3, bgr), noise(h, w, CV_8UC3);
      rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(30));
      image += noise;
      if (n % 7 == 3) cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
      const bool png = cls == "b" && i == 0;
      const std::string name = (dir / std::to_string(i)).string() + (png ? ".png" : ".jpg");
      ASSERT_TRUE(cv::imwrite(name, image, {cv::IMWRITE_JPEG_QUALITY, 90}));
    }
  }
}

/// A tiny ViT at 32 px (patch 8, one block) and a one-epoch recipe, streamed.
const std::string kTiny =
    " --set data.storage=stream --set data.max_bad_fraction=0.1 --set model.image_size=32"
    " --set model.patch_size=8 --set model.depth=1 --set model.width=32 --set model.heads=2"
    " --set model.decoder_depth=1 --set model.decoder_width=32 --set model.decoder_heads=2"
    " --set tokenizer.vocab=8 --set tokenizer.max_patches=2000 --set pretrain.epochs=1"
    " --set pretrain.batch_size=8 --set eval.linear_epochs=2 --set eval.linear_batch=16"
    " --set eval.feature_batch=16 --set eval.knn_k=5";

/// True when the run failed with a one-line error (the last line of stderr) saying that
/// `command` needs labels.
::testing::AssertionResult needs_labels(const RunResult& r, const std::string& command) {
  if (r.status == 0) return ::testing::AssertionFailure() << command << " ran on unlabeled data";
  const size_t at = r.err.find("error: " + command + " needs labels");
  if (at == std::string::npos || (at > 0 && r.err[at - 1] != '\n') ||
      r.err.find('\n', at) != r.err.size() - 1) {
    return ::testing::AssertionFailure() << r.err;
  }
  return ::testing::AssertionSuccess();
}

TEST(CliStream, RunStreamsPhotoFolderEndToEnd) {
  TempDir dir;
  const std::string data = dir.file("photos");
  write_photos(data, "train", 19, 1);
  write_photos(data, "test", 6, 2);
  std::ofstream(data + "/train/a/corrupt.jpg") << "\xff\xd8\xff\xe0 not a jpeg";
  const std::string whole = slurp(data + "/train/b/3.jpg");  // 40 samples: batch 8 drops none
  std::ofstream(data + "/train/b/truncated.jpg") << whole.substr(0, whole.size() / 2);
  const std::string out = dir.file("run");
  const RunResult r = run_cli(dir, "run --out " + out + " --set data.dataset=" + data + kTiny +
                                       " --set 'run.methods=[\"clustermim\",\"mae\"]'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("corrupt.jpg"), std::string::npos) << "the corrupt file is named";
  // ... by each pretraining epoch too, which takes exactly its batches and stops.
  const size_t begin = r.err.find("pretraining clustermim"), end = r.err.find("pretrain done");
  ASSERT_NE(end, std::string::npos) << r.err;
  EXPECT_LT(r.err.find("epoch 0: 2 bad sample(s) skipped", begin), end) << r.err;
  EXPECT_NE(r.err.find("pretraining clustermim (vit-tiny-28 reshaped: 32 px, patch 8, 32-d x 1, 2"
                       " heads, mlp 4; decoder 32-d x 1, 2 heads, 1 epochs)"),
            std::string::npos)
      << "the log names the shape, not the preset it was changed from: " << r.err;
  const auto report = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_EQ(report.at("skipped_samples").at("train"), 2) << "a streamed split's count too";
  EXPECT_EQ(report["skipped_samples"].at("eval"), 0);
  EXPECT_NE(slurp(out + "/report.md").find("- model: vit-tiny-28 reshaped: 32 px"),
            std::string::npos);
  EXPECT_EQ(report.at("storage").at("train"), "stream");
  EXPECT_EQ(report["storage"].at("eval"), "stream");
  EXPECT_FALSE(report.contains("skipped_steps"));
  ASSERT_EQ(report.at("rows").size(), 2u);
  for (const auto& row : report["rows"]) {
    EXPECT_TRUE(row.at("knn_top1").is_number()) << row;
    EXPECT_TRUE(row.at("linear_top1").is_number()) << row;
    EXPECT_EQ(row.at("pretrain_steps"), 5) << "40 training samples, batch 8: " << row;
  }
  EXPECT_TRUE(report["rows"][0].at("tcas").is_number());
  EXPECT_TRUE(report.at("tcas").at("tcas").is_number());
  EXPECT_EQ(report["config"]["model"]["image_size"], 32);
}

TEST(CliStream, FinetunesTimmWeightsAt224OnAPhotoFolder) {
  TempDir dir;
  const std::string data = dir.file("photos");
  write_photos(data, "train", 6, 1);
  write_photos(data, "test", 3, 2);
  VitConfig encoder;  // 224 px, patch 32: 49 tokens of 32-d, one block
  encoder.image_size = 224;
  encoder.patch_size = 32;
  encoder.dim = 32;
  encoder.depth = 1;
  encoder.heads = 2;
  torch::manual_seed(0);
  VisionTransformer vit(encoder);
  save_encoder_safetensors(vit, ChannelStats{}, dir.file("vit.safetensors"));
  const RunResult r = run_cli(
      dir, "eval finetune --weights " + dir.file("vit.safetensors") + " --out " + dir.file("ft") +
               " --json " + dir.file("ft.json") + " --set data.dataset=" + data +
               " --set data.storage=stream --set finetune.epochs=1 --set finetune.batch_size=4"
               " --set finetune.bf16=false --set finetune.eval_batch=6");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(dir.file("ft.json")));
  EXPECT_EQ(j.at("steps"), 3) << "12 training images in batches of 4";
  EXPECT_EQ(j.at("epochs").size(), 1u);
  EXPECT_DOUBLE_EQ(j.at("top5_last").get<double>(), 1.0) << "two classes: both in the top 5";
}

TEST(CliStream, TcasIsTheSameInMemoryAndStreamed) {
  // Photo-sized images of varying sizes, resized to 32 px: fitting and counting read the same
  // center squares normalized by the same statistics whichever storage holds the split.
  TempDir dir;
  const std::string data = dir.file("photos");
  write_photos(data, "train", 20, 3);
  write_photos(data, "test", 8, 4);
  std::vector<nlohmann::json> rows;
  for (const std::string storage : {"memory", "stream"}) {
    const std::string json = dir.file(storage + ".json");
    const RunResult r = run_cli(dir, "tcas --data " + data + " --storage " + storage +
                                         " --image-size 32 --patch-size 8 --tokenizers "
                                         "pixel-kmeans:8,random:8 --bootstrap 20 --json " + json);
    ASSERT_EQ(r.status, 0) << r.err;
    rows.push_back(nlohmann::json::parse(slurp(json)).at("rows"));
  }
  ASSERT_EQ(rows[0].size(), 2u);
  for (size_t i = 0; i < rows[0].size(); ++i) {
    for (const char* key : {"tcas", "tcas_ci_low", "tcas_ci_high", "k_used", "nmi"}) {
      EXPECT_EQ(rows[0][i].at(key), rows[1][i].at(key)) << key << " of " << rows[0][i]["name"];
    }
  }
}

TEST(CliStream, MaxBadFractionLetsTcasTokenizerFitAndTokensEncodeSkipACorruptImage) {
  TempDir dir;
  const std::string data = dir.file("photos");
  write_photos(data, "test", 4, 6);
  std::ofstream(data + "/test/a/corrupt.jpg") << "\xff\xd8\xff\xe0 not a jpeg";
  const std::string read = " --data " + data + " --split test --storage stream";
  const std::string tokenizer = dir.file("t.cmtk"), tokens = dir.file("t.npz");
  const std::string shape = " --image-size 32 --patch-size 8";
  for (const std::string& command :
       {"tcas --fit-split test --tokenizers pixel-kmeans:8 --bootstrap 10" + shape + read,
        "tokenizer fit --kind pixel-kmeans:8 -o " + tokenizer + shape + read,
        "tokens encode --tokenizer " + tokenizer + " -o " + tokens + read}) {
    RunResult r = run_cli(dir, command);  // 1 bad image in 9: over the default 0.001
    EXPECT_NE(r.status, 0) << command;
    EXPECT_NE(r.err.find("max_bad_fraction 0.001"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("corrupt.jpg"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tokens)) << "nothing written by a failed tokens encode";
    r = run_cli(dir, command + " --max-bad-fraction 0.2");
    ASSERT_EQ(r.status, 0) << command << "\n" << r.err;
    EXPECT_NE(r.err.find("corrupt.jpg"), std::string::npos) << "named in the warning: " << r.err;
  }
  EXPECT_TRUE(fs::exists(tokens));
  EXPECT_NE(run_cli(dir, "tokens encode --tokenizer " + tokenizer + " -o " + tokens + read +
                             " --max-bad-fraction 2")
                .status,
            0);
}

TEST(CliStream, UnlabeledFolderPretrainsAndSkipsWhatNeedsLabels) {
  TempDir dir;
  const std::string photos = dir.file("photos");  // a/ and b/ but no split folder: unlabeled
  write_photos(photos, "", 12, 3);
  const std::string sets = " --set data.dataset=" + photos + kTiny;
  RunResult r = run_cli(dir, "pretrain --out " + dir.file("pre") + sets);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("unlabeled; pretraining without labels"), std::string::npos) << r.err;
  const std::string checkpoint = dir.file("pre/clustermim/ckpt-000000003.cmck");
  ASSERT_TRUE(fs::exists(checkpoint)) << r.out;

  const std::string out = dir.file("run");
  r = run_cli(dir, "run --out " + out + sets);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("k-NN, linear probe and fine-tuning skipped: the train split is unlabeled"),
            std::string::npos)
      << r.err;
  const auto report = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_EQ(report.at("labeled"), false);
  const auto skipped = report.at("skipped_steps").get<std::set<std::string>>();
  EXPECT_EQ(skipped, (std::set<std::string>{"tokenizer TCAS", "k-NN", "linear probe",
                                            "fine-tuning", "random-init"}));
  ASSERT_EQ(report.at("rows").size(), 2u) << "clustermim and mae; random-init left out";
  for (const auto& row : report["rows"]) {
    EXPECT_FALSE(row.contains("knn_top1")) << row;
    EXPECT_TRUE(row.at("pretrain_steps").is_number()) << row;
  }
  EXPECT_NE(slurp(out + "/report.md").find("unlabeled data: pretraining only"), std::string::npos);

  const std::string data = " --data " + photos + " --split train";
  EXPECT_TRUE(needs_labels(run_cli(dir, "tcas --fit-split train" + data), "tcas"));
  EXPECT_TRUE(needs_labels(run_cli(dir, "data info --per-class" + data), "data info --per-class"));
  EXPECT_TRUE(needs_labels(run_cli(dir, "tokenizer fit --kind label -o " + dir.file("l.cmtk") + data),
                           "the label tokenizer"));
  for (const std::string which : {"knn", "linear", "finetune"}) {
    EXPECT_TRUE(needs_labels(run_cli(dir, "eval " + which + " --checkpoint " + checkpoint),
                             "eval " + which));
  }
  r = run_cli(dir, "data info" + data + " --storage stream");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("classes  unlabeled"), std::string::npos) << r.out;

  // Token pictures and token files need no labels: no class mix, the tokens alone.
  const std::string tokenizer = " --tokenizer " + dir.file("pre/tokenizer.cmtk");
  r = run_cli(dir, "tokens show --pool 16 --images 4 -o " + dir.file("t.png") + tokenizer + data);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(cv::imread(dir.file("t.png")).empty());
  r = run_cli(dir, "tokens encode -o " + dir.file("t.npz") + tokenizer + data);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<NpyArray> arrays = load_npz(dir.file("t.npz"));
  ASSERT_EQ(arrays.size(), 1u);
  EXPECT_EQ(arrays[0].name, "tokens");
  EXPECT_EQ(arrays[0].shape, (std::vector<int64_t>{24, 16}));
}

TEST(CliStream, StorageFlagIsParsedOnEveryDataCommand) {
  TempDir dir;
  const std::string data = " --data " + dir.path() + " --storage disk";
  for (const std::string& command : std::vector<std::string>{
           "data info", "tcas", "tokenizer fit -o " + dir.file("t.cmtk"),
        "tokens show --tokenizer " + dir.file("t.cmtk"),
        "tokens encode --tokenizer " + dir.file("t.cmtk")}) {
    const RunResult r = run_cli(dir, command + data);
    EXPECT_NE(r.status, 0) << command;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << command << ": " << r.err;
    EXPECT_EQ(r.err.rfind("error: --storage: disk", 0), 0u) << command << ": " << r.err;
  }
}

/// The repository's configs/ folder (next to tests/, where this file is).
std::string configs_dir() {
  return (fs::path(__FILE__).parent_path().parent_path() / "configs").string();
}

TEST(CliStream, ImageNetConfigsResolveWithoutData) {
  for (const std::string name : {"imagenet1k-vitb16", "imagenet100-vitb16"}) {
    SCOPED_TRACE(name);
    const nlohmann::json c = load_run_config(configs_dir() + "/" + name + ".toml", {});
    const MimConfig m = model_config(c, "clustermim");
    EXPECT_EQ(m.encoder.image_size, 224);
    EXPECT_EQ(m.encoder.patch_size, 16);
    EXPECT_EQ(m.encoder.dim, 768);
    EXPECT_EQ(m.encoder.depth, 12);
    EXPECT_EQ(m.encoder.heads, 12);
    EXPECT_DOUBLE_EQ(m.mask_ratio, 0.75);
    const PretrainOptions p = pretrain_options(c, "out");
    EXPECT_EQ(p.batch_size * p.accum_steps, 4096);
    EXPECT_DOUBLE_EQ(p.blr, 1.5e-4);
    EXPECT_FLOAT_EQ(p.augment.scale_min, 0.2f);
    const DataOptions d = data_options(c);
    EXPECT_EQ(d.storage, Storage::kStream);
    EXPECT_FLOAT_EQ(d.crop_ratio, 0.875f);
    ASSERT_TRUE(d.channel_stats.has_value());
    EXPECT_FLOAT_EQ(d.channel_stats->mean[0], 0.485f);
    EXPECT_EQ(c["data"]["eval_split"], "val");
    EXPECT_EQ(tokenizer_build_options(c).fit.patch_size, 16);
    eval_options(c);
    finetune_options(c, "out");
  }
  std::ifstream list(configs_dir() + "/imagenet100-classes.txt");
  std::set<std::string> wnids;
  for (std::string line; std::getline(list, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.size(), 9u) << line;
    EXPECT_EQ(line[0], 'n') << line;
    wnids.insert(line);
  }
  EXPECT_EQ(wnids.size(), 100u);
}

}  // namespace
}  // namespace clustermim
