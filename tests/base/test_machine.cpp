/*
 * Machine descriptions: the CPU model from a cpuinfo file, the GPU models from the NVIDIA
 * driver's per-GPU information files (none, one, identical ones, mixed ones).
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data_test_util.h"
#include "core/machine.h"

namespace clustermim {
namespace {

namespace fs = std::filesystem;

class Machine : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::make_temp_dir();
    fs::create_directories(dir / "gpus");
  }
  void add_gpu(const std::string& bus, const std::string& model) {
    fs::create_directories(dir / "gpus" / bus);
    std::ofstream(dir / "gpus" / bus / "information")
        << "Model: \t\t " << model << "\nIRQ:  \t\t 42\nBus Location: \t " << bus << "\n";
  }
  std::string gpus() const { return gpu_model((dir / "gpus").string()); }
  fs::path dir;
};

TEST_F(Machine, CpuModelFromCpuinfo) {
  std::ofstream(dir / "cpuinfo") << "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
                                 << "model name\t: AMD EPYC 9654 96-Core Processor\nflags\t: fpu\n";
  EXPECT_EQ(cpu_model((dir / "cpuinfo").string()), "AMD EPYC 9654 96-Core Processor");
  EXPECT_EQ(cpu_model((dir / "absent").string()), "unknown");
}

TEST_F(Machine, GpuModels) {
  EXPECT_EQ(gpus(), "");
  EXPECT_EQ(gpu_model((dir / "absent").string()), "");
  add_gpu("0000:19:00.0", "NVIDIA H200");
  EXPECT_EQ(gpus(), "NVIDIA H200");
  add_gpu("0000:3b:00.0", "NVIDIA H200");
  EXPECT_EQ(gpus(), "2x NVIDIA H200");
  add_gpu("0000:4c:00.0", "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(gpus(), "NVIDIA A100-SXM4-80GB, NVIDIA H200, NVIDIA H200");
}

}  // namespace
}  // namespace clustermim
