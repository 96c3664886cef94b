/*
 * Data-parallel training: the environment a rank reads, a two-rank Gloo group inside this process
 * (average, broadcast, barrier), and `clustermim pretrain --nproc 2` against one process with the
 * whole batch: the same loss curve, one metrics file and one set of checkpoints (rank 0's);
 * `clustermim eval finetune --nproc 2` (stopped and resumed) against one process: the same
 * weights and optimizer moments at the end, the same per-epoch evaluation scores (counts summed over the ranks).
 */
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "models/checkpoint_file.h"
#include "support/cli_runner.h"
#include "support/fixtures.h"
#include "train/finetune.h"
#include "train/checkpoint.h"
#include "train/distributed.h"

namespace clustermim {
namespace {

using testing::error_of;
using testing::run_cli;
using testing::TempDir;

/// Sets environment variables for the lifetime of the object, then unsets them.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [name, value] : vars_) setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& kv : vars_) unsetenv(kv.first.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof(a);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  close(fd);
  return ntohs(a.sin_port);
}

TEST(DistributedEnv, ReadsTorchrunVariables) {
  EXPECT_FALSE(distributed_env_present());
  EXPECT_EQ(distributed_env_from_environment().world_size, 1);
  {
    ScopedEnv env({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "1234"}});
    EXPECT_TRUE(distributed_env_present());
    const DistributedEnv e = distributed_env_from_environment();
    EXPECT_EQ(e.rank, 2);
    EXPECT_EQ(e.world_size, 4);
    EXPECT_EQ(e.master_addr, "10.0.0.7");
    EXPECT_EQ(e.master_port, 1234);
  }
  for (const auto& [rank, world] : {std::pair{"4", "4"}, {"x", "2"}, {"0", "0"}}) {
    ScopedEnv env({{"RANK", rank}, {"WORLD_SIZE", world}});
    const std::string msg = error_of([] { distributed_env_from_environment(); });
    EXPECT_NE(msg.find("environment: "), std::string::npos) << rank << "/" << world << ": " << msg;
  }
}

TEST(DistributedGroup, TwoRanksAverageBroadcastAndMeet) {
#ifndef CLUSTERMIM_HAVE_GLOO
  GTEST_SKIP() << "built without Gloo headers (libgloo-dev)";
#endif
  const int port = free_port();
  std::vector<torch::Tensor> averaged(2), broadcast(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      try {
        DistributedGroup group({rank, 2, "127.0.0.1", port}, std::chrono::seconds(60));
        averaged[rank] = torch::full({2, 3}, rank == 0 ? 1.0f : 4.0f);
        torch::Tensor scalar = torch::tensor({10.0 * (rank + 1)});
        group.average({averaged[rank], scalar});
        EXPECT_NEAR(scalar.item<double>(), 15.0, 1e-6);
        broadcast[rank] = torch::arange(5, torch::kFloat32) * (rank + 1);
        group.broadcast_from_main({broadcast[rank]});
        group.barrier();
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_EQ(errors, std::vector<std::string>(2)) << errors[0] << " | " << errors[1];
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_TRUE(torch::allclose(averaged[rank], torch::full({2, 3}, 2.5f)));
    EXPECT_TRUE(torch::equal(broadcast[rank], torch::arange(5, torch::kFloat32)));
  }
}

TEST(DistributedGroup, UnreachableMasterIsAClearError) {
#ifndef CLUSTERMIM_HAVE_GLOO
  GTEST_SKIP() << "built without Gloo headers (libgloo-dev)";
#endif
  const int port = free_port();
  const std::string msg = error_of(
      [&] { DistributedGroup({1, 2, "127.0.0.1", port}, std::chrono::milliseconds(500)); });
  EXPECT_EQ(msg.rfind("distributed: rank 1 of 2 could not join the group at 127.0.0.1:", 0), 0u) << msg;
}

std::vector<nlohmann::json> metric_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(testing::slurp(path));
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(DistributedPretrain, TwoProcessesFollowOneProcessWithTheWholeBatch) {
#ifndef CLUSTERMIM_HAVE_GLOO
  GTEST_SKIP() << "built without Gloo headers (libgloo-dev)";
#endif
  TempDir dir;
  const std::string data = testing::write_idx_dataset(dir, 64, 16, 28);
  const std::string sets = " --set data.dataset=" + data +
                           " --set pretrain.epochs=2 --set pretrain.batch_size=16"
                           " --set pretrain.bf16=false --set tokenizer.vocab=4"
                           " --set tokenizer.max_patches=2000";
  auto pretrain = [&](const std::string& out, int nproc) {
    const auto r = run_cli(dir, "pretrain --nproc " + std::to_string(nproc) + " --out " + out + sets);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err.find("data-parallel: 2 processes") != std::string::npos, nproc == 2) << r.err;
    return metric_lines(out + "/clustermim/metrics.jsonl");
  };
  const auto one = pretrain(dir.file("one"), 1);
  const auto two = pretrain(dir.file("two"), 2);
  ASSERT_EQ(one.size(), 8u);
  ASSERT_EQ(two.size(), one.size()) << "rank 0 alone writes the metrics";
  for (size_t i = 0; i < one.size(); ++i) {
    const double loss = one[i]["loss"].get<double>();
    EXPECT_NEAR(two[i]["loss"].get<double>(), loss, 1e-3 * std::abs(loss)) << "step " << i;
    EXPECT_NEAR(two[i]["acc"].get<double>(), one[i]["acc"].get<double>(), 1e-3) << "step " << i;
    EXPECT_DOUBLE_EQ(two[i]["lr"].get<double>(), one[i]["lr"].get<double>());
  }
  EXPECT_TRUE(std::filesystem::exists(dir.file("two") + "/clustermim/ckpt-000000008.cmck"));

  const auto bad = run_cli(dir, "pretrain --nproc 3 --out " + dir.file("three") + sets);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("does not split evenly across 3 processes"), std::string::npos) << bad.err;
}

TEST(DistributedFinetune, SplitEvaluationSumsTheCountsOfTheRanks) {
#ifndef CLUSTERMIM_HAVE_GLOO
  GTEST_SKIP() << "built without Gloo headers (libgloo-dev)";
#endif
  const Dataset test = testing::make_color_dataset(37, 8, 4, 3);  // 18 / 19 over two ranks
  VitConfig encoder;
  encoder.image_size = 8;
  encoder.patch_size = 2;
  encoder.dim = 32;
  encoder.depth = 2;
  encoder.heads = 2;
  const ClassifierConfig config = make_classifier_config(encoder, 4, FinetuneOptions());
  std::vector<VitClassifier> classifiers;
  for (int i = 0; i < 3; ++i) {  // the same random weights: one alone, one per rank
    torch::manual_seed(7);
    classifiers.emplace_back(config);
  }
  const ChannelStats stats;
  const torch::Device cpu(torch::kCPU);
  const auto alone = classifier_accuracy(classifiers[2], test, stats, 8, 1, false, cpu);
  ASSERT_GT(alone.first, 0.0);
  ASSERT_LT(alone.first, 1.0);
  const int port = free_port();
  std::vector<std::pair<double, double>> split(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      try {
        DistributedGroup group({rank, 2, "127.0.0.1", port}, std::chrono::seconds(60));
        split[rank] = classifier_accuracy(classifiers[rank], MemoryImageSource(test), stats, 8, 1,
                                          false, cpu, &group);
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_EQ(errors, std::vector<std::string>(2)) << errors[0] << " | " << errors[1];
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(split[rank].first, alone.first) << "rank " << rank;
    EXPECT_EQ(split[rank].second, alone.second) << "rank " << rank;
  }
}

TEST(DistributedFinetune, TwoProcessesEndWithTheWeightsOfOneProcess) {
#ifndef CLUSTERMIM_HAVE_GLOO
  GTEST_SKIP() << "built without Gloo headers (libgloo-dev)";
#endif
  TempDir dir;
  const std::string data = testing::write_idx_dataset(dir, 32, 17, 28);  // the evaluation splits 8 / 9 over two ranks
  // fp32; Mixup / CutMix and drop path off (drawn per rank); crops, RandAugment and erasing on.
  const std::string sets = " --set data.dataset=" + data +
                           " --set finetune.epochs=2 --set finetune.batch_size=8"
                           " --set finetune.bf16=false --set finetune.drop_path=0"
                           " --set finetune.mixup=0 --set finetune.cutmix=0"
                           " --set finetune.warmup_epochs=0.5 --set finetune.blr=0.05";
  auto finetune = [&](const std::string& out, int nproc, const std::string& more, bool resumes) {
    const auto r = run_cli(dir, "eval finetune --random-init vit-tiny-28 --nproc " +
                                    std::to_string(nproc) + " --out " + out + sets + more);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err.find("data-parallel: 2 processes") != std::string::npos, nproc == 2) << r.err;
    EXPECT_EQ(r.err.find(", resuming") != std::string::npos, resumes) << r.err;
    size_t printed = 0;
    for (size_t at = r.out.find("fine-tuned "); at != std::string::npos;
         at = r.out.find("fine-tuned ", at + 1)) {
      ++printed;
    }
    EXPECT_EQ(printed, 1u) << "rank 0 alone prints: " << r.out;
    const std::string scores = testing::slurp(out + "/finetune.json");  // none before an epoch ends
    return scores.empty() ? nlohmann::json() : nlohmann::json::parse(scores);
  };
  const nlohmann::json one = finetune(dir.file("one"), 1, "", false);
  // Two processes stopped in the first epoch (step 3 of 4), then resumed by the same command.
  finetune(dir.file("two"), 2, " --set finetune.max_steps=3", false);
  const nlohmann::json two = finetune(dir.file("two"), 2, "", true);
  ASSERT_EQ(one.at("epochs").size(), 2u);
  EXPECT_EQ(two.at("epochs").size(), 2u);
  EXPECT_EQ(two.at("steps"), one.at("steps"));
  for (size_t e = 0; e < 2; ++e) {  // counts over all 17 test images, summed over the ranks
    EXPECT_EQ(two["epochs"][e].at("top1"), one["epochs"][e].at("top1")) << "epoch " << e;
    EXPECT_EQ(two["epochs"][e].at("top5"), one["epochs"][e].at("top5")) << "epoch " << e;
    const double loss = one["epochs"][e].at("train_loss").get<double>();
    EXPECT_NEAR(two["epochs"][e].at("train_loss").get<double>(), loss, 1e-5 * loss) << e;
  }
  ASSERT_EQ(metric_lines(dir.file("two") + "/metrics.jsonl").size(), 8u)
      << "rank 0 alone writes the metrics";

  const Checkpoint a = load_checkpoint(latest_checkpoint(dir.file("one")));
  const Checkpoint b = load_checkpoint(latest_checkpoint(dir.file("two")));
  EXPECT_EQ(b.info.position.step, 8);
  ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size());
  size_t compared = 0;
  for (size_t i = 0; i < a.file.tensors.size(); ++i) {  // weights and AdamW moments
    const TensorRecord& x = a.file.tensors[i];
    const TensorRecord& y = b.file.tensors[i];
    ASSERT_EQ(x.name, y.name);
    ASSERT_EQ(x.shape, y.shape) << x.name;
    if (x.dtype != DType::F32) continue;
    float worst = 0;
    for (int64_t k = 0; k < x.numel(); ++k) {
      worst = std::max(worst, std::abs(x.as<float>()[k] - y.as<float>()[k]));
    }
    EXPECT_LT(worst, 1e-5f) << x.name;
    ++compared;
  }
  EXPECT_GT(compared, 10u);

  const auto bad = run_cli(dir, "eval finetune --random-init vit-tiny-28 --nproc 3 --out " +
                                    dir.file("three") + sets);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("finetune: batch_size 8 does not split evenly across 3 processes"),
            std::string::npos) << bad.err;
}

}  // namespace
}  // namespace clustermim
