#!/usr/bin/env python3
"""Reference for bench_kmeans: sklearn MiniBatchKMeans fitted with partial_fit, as the paper's
code did, on the very patch vectors the C++ side clustered (a raw float32 file [N, D]).

Fits --repeats times with seeds --seed, --seed + 1, ... (bench_kmeans asks for one fit per round,
with the round's seed). Prints one JSON object: {"seconds": [...], "objective": [...]} where
objective is the mean squared distance of a point to its nearest centroid (inertia / N), as
clustermim reports it.
"""
import argparse
import json
import time

import numpy as np
from sklearn.cluster import MiniBatchKMeans


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--points", required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="seed of the first fit")
    args = p.parse_args()
    x = np.fromfile(args.points, dtype=np.float32).reshape(-1, args.dim)
    seconds, objective = [], []
    for r in range(args.seed, args.seed + args.repeats):
        rng = np.random.default_rng(r)
        start = time.perf_counter()
        km = MiniBatchKMeans(n_clusters=args.k, batch_size=args.batch, random_state=r, n_init=1)
        for _ in range(args.epochs):
            order = rng.permutation(len(x))
            for i in range(0, len(x), args.batch):
                km.partial_fit(x[order[i:i + args.batch]])
        seconds.append(time.perf_counter() - start)
        objective.append(float(-km.score(x)) / len(x))
    print(json.dumps({"seconds": seconds, "objective": objective}))


if __name__ == "__main__":
    main()
