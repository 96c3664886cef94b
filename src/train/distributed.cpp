/*
 * Process groups over c10d Gloo (see distributed.h).
 */
#include "train/distributed.h"

#include <cstdlib>

#include "core/error.h"

#ifdef CLUSTERMIM_HAVE_GLOO
#ifndef USE_C10D_GLOO  // what LibTorch's own build defines to expose ProcessGroupGloo
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace clustermim {

namespace {

int env_int(const char* name, int fallback, int lowest, int highest) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  CM_REQUIRE(*end == '\0' && value >= lowest && value <= highest, "environment: ", name, "='",
             text, "' must be an integer in [", lowest, ", ", highest, "]");
  return static_cast<int>(value);
}

}  // namespace

bool distributed_env_present() {
  const char* world = std::getenv("WORLD_SIZE");
  return world != nullptr && *world != '\0';
}

DistributedEnv distributed_env_from_environment() {
  DistributedEnv env;
  env.world_size = env_int("WORLD_SIZE", 1, 1, 65536);
  env.rank = env_int("RANK", 0, 0, env.world_size - 1);
  env.master_port = env_int("MASTER_PORT", env.master_port, 1, 65535);
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr != nullptr && *addr != '\0') env.master_addr = addr;
  return env;
}

#ifdef CLUSTERMIM_HAVE_GLOO

struct DistributedGroup::Backend {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

/// The first line of an exception's message (c10 errors carry a backtrace after it).
std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  return text.substr(0, text.find('\n'));
}

/// All tensors flattened into one contiguous fp32 CPU buffer, in order.
torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> parts;
  for (const torch::Tensor& t : tensors) parts.push_back(t.detach().reshape(-1).to(torch::kCPU, torch::kFloat32));
  return torch::cat(parts);
}

void unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const torch::Tensor& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(flat.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

/// The network device this rank's Gloo pairs bind to: loopback for a one-machine group, else
/// the interface named by GLOO_SOCKET_IFNAME, else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (master_addr == "127.0.0.1" || master_addr == "localhost") {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  if (interface != nullptr && *interface != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

DistributedGroup::DistributedGroup(const DistributedEnv& env, std::chrono::milliseconds timeout)
    : env_(env) {
  if (env_.world_size == 1) return;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(env_.master_port);
    store_options.isServer = env_.rank == 0;
    store_options.numWorkers = static_cast<size_t>(env_.world_size);
    store_options.timeout = timeout;
    backend_ = std::make_unique<Backend>();
    backend_->store = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, store_options);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(env_.master_addr));
    backend_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(backend_->store, env_.rank,
                                                                   env_.world_size, options);
  } catch (const std::exception& e) {
    fail("distributed: rank ", env_.rank, " of ", env_.world_size, " could not join the group at ",
         env_.master_addr, ":", env_.master_port, ": ", first_line(e));
  }
}

void DistributedGroup::average(const std::vector<torch::Tensor>& tensors) {
  if (env_.world_size == 1 || tensors.empty()) return;
  std::vector<torch::Tensor> buffer{flatten(tensors)};
  backend_->group->allreduce(buffer)->wait();
  buffer[0].div_(env_.world_size);
  unflatten(buffer[0], tensors);
}

void DistributedGroup::broadcast_from_main(const std::vector<torch::Tensor>& tensors) {
  if (env_.world_size == 1 || tensors.empty()) return;
  std::vector<torch::Tensor> buffer{flatten(tensors)};
  backend_->group->broadcast(buffer)->wait();
  unflatten(buffer[0], tensors);
}

void DistributedGroup::barrier() {
  if (env_.world_size > 1) backend_->group->barrier()->wait();
}

#else

struct DistributedGroup::Backend {};

DistributedGroup::DistributedGroup(const DistributedEnv& env, std::chrono::milliseconds)
    : env_(env) {
  CM_REQUIRE(env_.world_size == 1, "distributed: this clustermim was built without Gloo; install ",
             "libgloo-dev (scripts/setup.sh does) and rebuild to run ", env_.world_size, " processes");
}

void DistributedGroup::average(const std::vector<torch::Tensor>&) {}
void DistributedGroup::broadcast_from_main(const std::vector<torch::Tensor>&) {}
void DistributedGroup::barrier() {}

#endif

DistributedGroup::~DistributedGroup() = default;

}  // namespace clustermim
