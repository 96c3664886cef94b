#!/usr/bin/env python3
"""Merges the loader benchmark's rounds into bench/out/loader.json.

bench/run.sh runs build/bench_loader (Google Benchmark) and bench/loader_reference.py alternately
(A B A B ...), one pair per round, each writing its own file: ours-R.json and reference-R.json in
one folder. Two processes cannot share one timer, so the pairing is made here: each round's ratio
is clustermim's 2-worker loader over the 2-worker PyTorch DataLoader of the same round, and the
output holds every round, the median ratio and its [min, max] spread, and each pipeline's median
images/s.

    /usr/bin/python3 bench/loader_rounds.py ROUNDS_DIR OUT_JSON
"""
import argparse
import glob
import json
import os
import re
import statistics

COMPARED = "BM_loader_augment/workers:2/real_time"  # the same worker count as the reference


def read_rounds(folder):
    """[(ours, reference)] of each round, in round order; both files of a round must be there."""
    found = sorted((int(re.search(r"(\d+)\.json$", p).group(1)), p)
                   for p in glob.glob(os.path.join(folder, "ours-*.json")))
    rounds = []
    for number, ours_path in found:
        ref_path = os.path.join(folder, f"reference-{number}.json")
        if not os.path.exists(ref_path):
            raise SystemExit(f"loader_rounds.py: {ref_path} is missing (round {number} unfinished)")
        with open(ours_path) as f, open(ref_path) as g:
            rounds.append((json.load(f), json.load(g)))
    if not rounds:
        raise SystemExit(f"loader_rounds.py: no ours-N.json in {folder}")
    return rounds


def merge(rounds):
    """The merged JSON: per benchmark the median img/s and each round's, the reference's, and
    ratio_vs_python (median), ratio_vs_python_spread ([min, max]) and ratio_vs_python_rounds."""
    runs = {}
    for ours, _ in rounds:
        for b in ours.get("benchmarks", []):
            if "img/s" in b:
                runs.setdefault(b["name"], []).append(b["img/s"])
    ref = [r["images_per_second"] for _, r in rounds]
    if COMPARED not in runs or len(runs[COMPARED]) != len(ref):
        raise SystemExit(f"loader_rounds.py: {COMPARED} is not in every round")
    pairs = [{"ours": o, "reference": p, "ratio": o / p} for o, p in zip(runs[COMPARED], ref)]
    ratios = [p["ratio"] for p in pairs]
    last_ref = rounds[-1][1]
    return {
        "rounds": len(rounds),
        "benchmarks": [{"name": name, "images_per_second": statistics.median(v), "runs": v}
                       for name, v in runs.items()],
        "reference": {"kind": last_ref["kind"], "workers": last_ref["workers"],
                      "images_per_second": statistics.median(ref), "runs": ref},
        "compared": COMPARED,
        "ratio_vs_python": statistics.median(ratios),
        "ratio_vs_python_spread": [min(ratios), max(ratios)],
        "ratio_vs_python_rounds": pairs,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rounds_dir")
    p.add_argument("out")
    a = p.parse_args()
    merged = merge(read_rounds(a.rounds_dir))
    with open(a.out + ".tmp", "w") as f:
        json.dump(merged, f, indent=2)
        f.write("\n")
    os.replace(a.out + ".tmp", a.out)
    lo, hi = merged["ratio_vs_python_spread"]
    print(f"loader: 2 workers, clustermim / PyTorch DataLoader {merged['ratio_vs_python']:.2f}x"
          f" [{lo:.2f}, {hi:.2f}] over {merged['rounds']} rounds; wrote {a.out}")


if __name__ == "__main__":
    main()
