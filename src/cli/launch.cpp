/*
 * The local launcher behind `--nproc` (see launch.h). The workers find each other through
 * rank 0's TCPStore at 127.0.0.1:MASTER_PORT (train/distributed.h); this process only starts,
 * signals and reaps them.
 */
#include "cli/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

extern char** environ;

namespace clustermim {

namespace {

std::vector<pid_t> g_workers;  // read by the signal handler; -1 once reaped

void forward_signal(int signal) {
  for (pid_t pid : g_workers) {
    if (pid > 0) kill(pid, signal);
  }
}

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CM_REQUIRE(!raw.empty(), "--nproc: cannot read /proc/self/cmdline");
  std::vector<std::string> args;
  for (size_t start = 0; start < raw.size();) {
    const size_t end = raw.find('\0', start);
    args.push_back(raw.substr(start, end - start));
    start = end == std::string::npos ? raw.size() : end + 1;
  }
  return args;
}

/// A TCP port that was free on 127.0.0.1 a moment ago (the kernel's pick, as torchrun does).
int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  CM_REQUIRE(fd >= 0, "--nproc: socket: ", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  CM_REQUIRE(ok, "--nproc: no free TCP port on 127.0.0.1: ", std::strerror(errno));
  return ntohs(address.sin_port);
}

/// The parent's environment with the rank variables (re)set.
std::vector<std::string> worker_environment(int rank, int nproc, int port) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const std::vector<std::pair<std::string, std::string>> set = {
      {"RANK", std::to_string(rank)},       {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(nproc)}, {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", std::to_string(port)}};
  std::vector<std::string> env;
  bool threads_given = false;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    threads_given |= name == "OMP_NUM_THREADS";
    const bool replaced = std::any_of(set.begin(), set.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  if (!threads_given) env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1, cores / nproc)));
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status));
  return "stopped";
}

}  // namespace

void launch_local_workers(int nproc) {
  CM_REQUIRE(nproc >= 1 && nproc <= 1024, "--nproc ", nproc, " must be in [1, 1024]");
  std::vector<std::string> args = own_command_line();
  const int port = free_local_port();
  std::vector<std::vector<std::string>> envs;
  for (int rank = 0; rank < nproc; ++rank) envs.push_back(worker_environment(rank, nproc, port));

  g_workers.assign(static_cast<size_t>(nproc), -1);
  struct sigaction forward {}, previous_int {}, previous_term {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGINT, &forward, &previous_int);
  sigaction(SIGTERM, &forward, &previous_term);
  for (int rank = 0; rank < nproc; ++rank) {
    std::vector<char*> argv = c_strings(args), envp = c_strings(envs[rank]);
    const pid_t pid = fork();
    if (pid == 0) {
      execve("/proc/self/exe", argv.data(), envp.data());
      _exit(127);
    }
    g_workers[rank] = pid;
    if (pid < 0) forward_signal(SIGTERM);
    CM_REQUIRE(pid > 0, "--nproc: cannot start worker ", rank, ": ", std::strerror(errno));
  }

  // After a failure the others get SIGTERM; one blocked in a collective that will never complete
  // cannot act on it, so whoever is left after kGrace gets SIGKILL.
  constexpr std::chrono::seconds kGrace(30);
  int failed_rank = -1, failed_status = 0;
  std::chrono::steady_clock::time_point failed_at;
  for (int running = nproc; running > 0;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, failed_rank < 0 ? 0 : WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      if (failed_rank >= 0 && std::chrono::steady_clock::now() - failed_at > kGrace) {
        forward_signal(SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (pid < 0) break;
    const auto it = std::find(g_workers.begin(), g_workers.end(), pid);
    if (it == g_workers.end()) continue;
    *it = -1;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failed_rank < 0) {
      failed_rank = static_cast<int>(it - g_workers.begin());
      failed_status = status;
      failed_at = std::chrono::steady_clock::now();
      forward_signal(SIGTERM);
    }
  }
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
  CM_REQUIRE(failed_rank < 0, "--nproc ", nproc, ": rank ", failed_rank, " ",
             describe_status(failed_status), " (its error is above); the other ranks were stopped");
}

}  // namespace clustermim
