/*
 * `--nproc N`: this command line again as N worker processes on this machine, torchrun-style.
 */
#pragma once

namespace clustermim {

/// Runs this process's own command line (/proc/self/cmdline) as `nproc` processes with torchrun's
/// environment: RANK = LOCAL_RANK = i, WORLD_SIZE = nproc, MASTER_ADDR = 127.0.0.1, MASTER_PORT =
/// a free port, and OMP_NUM_THREADS = cores / nproc unless already set. SIGINT and SIGTERM are
/// passed on to every worker. Returns when all have exited with status 0; otherwise stops the
/// others (SIGTERM, then SIGKILL after 30 s for a rank stuck in a collective) and throws Error
/// naming the first rank that failed.
void launch_local_workers(int nproc);

}  // namespace clustermim
