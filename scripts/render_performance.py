#!/usr/bin/env python3
"""Writes docs/PERFORMANCE.md from the benchmark outputs in bench/out/ (never by hand).

Each section names the benchmark command; numbers come straight from the JSON files that
bench/run.sh produced on this machine, with the machine and the date of the files.
"""
import argparse
import datetime
import json
import os
import platform


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def stamp(path):
    return datetime.datetime.utcfromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M UTC")


def kmeans_section(out):
    data = load(os.path.join(out, "kmeans.json"))
    if data is None:
        return []
    lines = [
        "## K-means: clustermim vs scikit-learn MiniBatchKMeans",
        "",
        f"`build/bench_kmeans --repeats {data['repeats']}` ({stamp(os.path.join(out, 'kmeans.json'))}):"
        f" {data['points']} pixel-patch vectors of {data['dim']} dims from {data['data']} (train),"
        f" {data['threads']} threads. clustermim: greedy k-means++ then up to {data['iterations']}"
        " Lloyd iterations in LibTorch. Reference: MiniBatchKMeans (batch 4096, 3 passes of"
        " `partial_fit`, as the paper's code; run with the same malloc thresholds). Objective = mean squared distance to the nearest"
        " centroid over all points (lower is better); medians over the repeats. The speed-up"
        " compares sklearn's fit with the time clustermim takes to reach sklearn's objective.",
        "",
        "| K | clustermim s to sklearn's objective | clustermim full fit s | clustermim objective"
        " | sklearn s | sklearn objective | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(f"| {r['k']} | {r['ours_seconds_to_sklearn_objective']:.2f} |"
                     f" {r['ours_seconds']:.2f} | {r['ours_objective']:.4f} |"
                     f" {r['sklearn_seconds']:.2f} | {r['sklearn_objective']:.4f} |"
                     f" {r['kmeans_ratio_vs_minibatch']:.2f}x |")
    return lines + [""]


def loader_section(out):
    ours = load(os.path.join(out, "loader.json"))
    ref = load(os.path.join(out, "loader_reference.json"))
    if ours is None:
        return []
    lines = [
        "## Data loader with augmentation",
        "",
        "`build/bench_loader` (Google Benchmark) against `bench/loader_reference.py` (PyTorch"
        " DataLoader, same RandomResizedCrop + flip + normalize, 32x32 images, batch 256):",
        "",
        "| pipeline | images/s |",
        "|---|---:|",
    ]
    for b in ours.get("benchmarks", []):
        if "img/s" in b:
            lines.append(f"| clustermim `{b['name']}` | {b['img/s']:.0f} |")
    if ref is not None:
        lines.append(f"| Python reference ({ref['kind']}, {ref['workers']} workers) |"
                     f" {ref['images_per_second']:.0f} |")
    return lines + [""]


def pretrain_section(out):
    path = os.path.join(out, "pretrain.json")
    data = load(path)
    if data is None:
        return []
    lines = [
        "## Pretraining step: clustermim vs the Python PyTorch twin",
        "",
        f"`build/bench_pretrain --repeats {data['repeats']}` ({stamp(path)}): {data['preset']},"
        f" K = {data['vocab']} logits, batch {data['batch']}, {data['threads']} threads,"
        f" {data['gflop_per_step']:.0f} GFLOP per step; median of {data['steps']} steps after"
        f" {data['warmup']} warm-up, median over repeats. The Python twin"
        " (`bench/pretrain_reference.py`, MAE's recipe) runs once with the default allocator and"
        " once with the malloc thresholds clustermim sets at start-up.",
        "",
        "| precision | clustermim img/s | GFLOP/s | Python img/s | ratio | Python, same malloc, img/s"
        " | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(f"| {r['precision']} | {r['clustermim_images_per_second']:.0f} |"
                     f" {r['clustermim_gflops']:.0f} | {r['python_images_per_second']:.0f} |"
                     f" {r['ratio_vs_python']:.2f}x | {r['python_tuned_malloc_images_per_second']:.0f} |"
                     f" {r['ratio_vs_python_tuned_malloc']:.2f}x |")
    return lines + [""]


def update_readme(path, out):
    """Rewrites the K-means sentence between the perf markers of the README."""
    data = load(os.path.join(out, "kmeans.json"))
    if data is None or not os.path.exists(path):
        return
    parts = [f"K = {r['k']}: {r['kmeans_ratio_vs_minibatch']:.1f}x faster to sklearn's objective"
             f" ({r['ours_objective']:.3f} vs {r['sklearn_objective']:.3f} after the full fit)"
             for r in data["rows"]]
    sentence = ("K-means against scikit-learn's MiniBatchKMeans on the same "
                f"{data['points']} patch vectors ({data['threads']} threads): " + "; ".join(parts) + ".")
    begin, end = "<!-- perf:kmeans -->", "<!-- /perf:kmeans -->"
    text = open(path).read()
    if begin not in text:
        return
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(path + ".tmp", "w") as f:
        f.write(head + begin + sentence + end + tail)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench-out", default="bench/out")
    p.add_argument("--out", default="docs/PERFORMANCE.md")
    p.add_argument("--readme", default="README.md")
    args = p.parse_args()
    lines = ["# Performance", "",
             "Generated by `scripts/render_performance.py` from `bench/out/` (run `make bench` or"
             " `bench/run.sh`); do not edit by hand.", "",
             f"Machine: {cpu_model()}, {os.cpu_count()} cores.", ""]
    lines += kmeans_section(args.bench_out)
    lines += loader_section(args.bench_out)
    lines += pretrain_section(args.bench_out)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, args.out)
    update_readme(args.readme, args.bench_out)


if __name__ == "__main__":
    main()
