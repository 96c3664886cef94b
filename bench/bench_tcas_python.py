#!/usr/bin/env python3
"""clustermim.tcas against a straightforward numpy TCAS, and the time of `import clustermim`.

Both sides score the same 1 M patches (N images x L patches, K = 8192 tokens, 10 classes): numpy
counts the [K, C] table with np.add.at and computes TCAS from it (SPEC section 2); clustermim.tcas
computes TCAS and every diagnostic beside it (K used, perplexity, collision, NMI, per-class rows).
They alternate (A B A B ...) for several rounds; each round's ratio is numpy's time over
clustermim's, and the result is the median ratio with its [min, max] spread over the rounds.
The import is timed in a fresh interpreter per round (the `import` statement alone), which also
reports whether LibTorch got loaded (it must not be).

    /usr/bin/python3 bench/bench_tcas_python.py [--build build] [--rounds 7]
writes bench/out/tcas_python.json (key tcas_python_ratio_vs_numpy, the issue's target: >= 10x).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def numpy_tcas(tokens, labels, vocab, classes):
    """TCAS as one would write it in numpy: np.add.at counts, then SPEC section 2."""
    patch_labels = np.repeat(labels, tokens.shape[1])
    counts = np.zeros((vocab, classes), dtype=np.int64)
    np.add.at(counts, (tokens.ravel(), patch_labels), 1)
    total = counts.sum()
    n_k = counts.sum(axis=1).astype(np.float64)
    n_c = counts.sum(axis=0).astype(np.float64)
    shared = n_k >= 2
    pairs = counts[shared].astype(np.float64)
    purity = (pairs * (pairs - 1)).sum(axis=1) / (n_k[shared] * (n_k[shared] - 1))
    alpha = ((n_k[shared] / total) * (1 - purity)).sum()
    chance = 1 - ((n_c / total) ** 2).sum()
    return alpha / chance


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_spread(values):
    return statistics.median(values), [min(values), max(values)]


IMPORT_PROBE = """
import time
start = time.perf_counter()
import clustermim
seconds = time.perf_counter() - start
with open("/proc/self/maps") as maps:
    torch = "libtorch" in maps.read()
print(seconds, torch)
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build", help="build folder holding python/clustermim")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--patches", type=int, default=1_000_000)
    p.add_argument("--length", type=int, default=64, help="L, patches per image")
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--json", default="bench/out/tcas_python.json")
    args = p.parse_args()
    package_root = os.path.abspath(os.path.join(args.build, "python"))
    sys.path.insert(0, package_root)
    import clustermim

    rng = np.random.default_rng(0)
    images = args.patches // args.length
    labels = rng.integers(0, args.classes, size=images).astype(np.int32)
    # Tokens that lean towards their class, as a real tokenizer's would.
    tokens = rng.integers(0, args.vocab, size=(images, args.length)).astype(np.int32)
    aligned = rng.random(tokens.shape) < 0.3
    tokens[aligned] = ((labels[:, None] * 97 + tokens % 50) % args.vocab)[aligned]

    ours_s, numpy_s, ratios = [], [], []
    clustermim.tcas(tokens, labels, vocab=args.vocab)  # warm-up: first-touch of the module
    for _ in range(args.rounds):
        t_ours, row = timed(lambda: clustermim.tcas(tokens, labels, vocab=args.vocab))
        t_numpy, value = timed(lambda: numpy_tcas(tokens, labels, args.vocab, args.classes))
        if abs(row["tcas"] - value) > 1e-9:
            sys.exit(f"bench: TCAS differs: clustermim {row['tcas']} numpy {value}")
        ours_s.append(t_ours)
        numpy_s.append(t_numpy)
        ratios.append(t_numpy / t_ours)

    env = dict(os.environ, PYTHONPATH=package_root)
    import_s, torch_loaded = [], False
    for _ in range(args.rounds):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        import_s.append(float(out[0]))
        torch_loaded |= out[1] == "True"

    ratio, ratio_spread = median_spread(ratios)
    import_median, import_spread = median_spread(import_s)
    result = {
        "patches": images * args.length, "images": images, "length": args.length,
        "vocab": args.vocab, "classes": args.classes, "rounds": args.rounds,
        "numpy_version": np.__version__,
        "clustermim_seconds": statistics.median(ours_s),
        "numpy_seconds": statistics.median(numpy_s),
        "tcas_python_ratio_vs_numpy": ratio,
        "tcas_python_ratio_vs_numpy_spread": ratio_spread,
        "import_seconds": import_median,
        "import_seconds_spread": import_spread,
        "import_loads_libtorch": torch_loaded,
    }
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(args.json + ".tmp", args.json)
    print(f"tcas, {result['patches']} patches x K = {args.vocab}: clustermim"
          f" {1e3 * result['clustermim_seconds']:.1f} ms, numpy {1e3 * result['numpy_seconds']:.1f}"
          f" ms: {ratio:.1f}x [{ratio_spread[0]:.1f}, {ratio_spread[1]:.1f}] over {args.rounds}"
          " rounds")
    print(f"import clustermim: {1e3 * import_median:.0f} ms [{1e3 * import_spread[0]:.0f},"
          f" {1e3 * import_spread[1]:.0f}], LibTorch loaded: {torch_loaded}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
