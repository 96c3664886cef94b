/*
 * Data-parallel process groups: c10d's Gloo backend, on CPU tensors.
 *
 * A group is described torchrun-style by RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; rank 0
 * hosts the TCPStore where the ranks meet. LibTorch 1.13's ProcessGroupGloo and 2.x's (a
 * c10d::Backend there) differ in their class hierarchy, not in the calls used here (allreduce,
 * broadcast, barrier), and this is the only file pair that touches c10d. Builds without Gloo's
 * headers (CLUSTERMIM_HAVE_GLOO undefined) still link: a group of one process works, larger ones
 * fail with a message saying what to install.
 *
 * Tensors on a CUDA device are staged through one CPU buffer per call; NCCL is not wired yet.
 */
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "backend/torch_pch.h"

namespace clustermim {

/// Where this process sits in a group (torchrun's environment variables).
struct DistributedEnv {
  int rank = 0;                            ///< RANK, 0 .. world_size - 1
  int world_size = 1;                      ///< WORLD_SIZE
  std::string master_addr = "127.0.0.1";   ///< MASTER_ADDR, host of rank 0's store
  int master_port = 29500;                 ///< MASTER_PORT
};

/// True when WORLD_SIZE is set in the environment (this process is one rank of a group).
bool distributed_env_present();

/// Reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; WORLD_SIZE unset = a group of one. Throws
/// Error naming the variable when one is malformed or out of range.
DistributedEnv distributed_env_from_environment();

/// One rank's membership of a data-parallel group.
class DistributedGroup {
 public:
  /// Joins the group; blocks until every rank has joined or `timeout` passes (then throws Error
  /// naming the address). A group of one opens no sockets.
  explicit DistributedGroup(const DistributedEnv& env,
                            std::chrono::milliseconds timeout = std::chrono::minutes(30));
  ~DistributedGroup();
  DistributedGroup(const DistributedGroup&) = delete;
  DistributedGroup& operator=(const DistributedGroup&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }

  /// Replaces every tensor by its mean over the ranks, in one all-reduce of a flat fp32 buffer.
  /// Every rank must pass tensors of the same shapes in the same order.
  void average(const std::vector<torch::Tensor>& tensors);
  /// Overwrites every tensor with rank 0's values.
  void broadcast_from_main(const std::vector<torch::Tensor>& tensors);
  /// Returns once every rank has called it.
  void barrier();

 private:
  struct Backend;
  DistributedEnv env_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace clustermim
