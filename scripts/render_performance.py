#!/usr/bin/env python3
"""Writes docs/PERFORMANCE.md from the committed benchmark records (never by hand).

bench/run.sh ends with `--record bench/out`: the JSON files it wrote are copied to docs/bench/
with run.json (machine, cores, mode, wall time, date) and stamps.json (when each file was
written), so that any clone renders the same document from them (`--check` says whether the
committed one is that render, and the README's sentences between its perf markers). Each section
names the benchmark command; numbers come straight from those files and from the GPU check's
files in docs/gpu/ (scripts/gpu_check.sh; committed, since a GPU host is lent only now and then
and gives nothing back once it is returned).

Every benchmark alternates clustermim and its reference for several rounds; each ratio is shown
as the median of the per-round ratios with their [min, max] spread, and a target counts as met
only when the whole spread clears it.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys


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
    """When a benchmark file was written: as the records' stamps.json says, else its modification
    time, or, for a file committed and unchanged since (a clone's files carry the checkout time),
    the date of its last commit."""
    stamps = load(os.path.join(os.path.dirname(path), "stamps.json")) or {}
    if os.path.basename(path) in stamps:
        return stamps[os.path.basename(path)]
    seconds = os.path.getmtime(path)
    folder, name = os.path.split(os.path.abspath(path))
    git = ["git", "-C", folder]
    try:
        changed = subprocess.run(git + ["status", "--porcelain", "--", name], capture_output=True,
                                 text=True, check=True).stdout
        committed = subprocess.run(git + ["log", "-1", "--format=%ct", "--", name],
                                   capture_output=True, text=True, check=True).stdout.strip()
        if committed and not changed:
            seconds = int(committed)
    except (OSError, subprocess.CalledProcessError):
        pass
    return datetime.datetime.utcfromtimestamp(seconds).strftime("%Y-%m-%d %H:%M UTC")


def spread_of(d, key):
    """[min, max] of the per-round ratios behind d[key] (the benchmark's `key`_spread); a file
    without one (written before the rounds) has a one-value spread."""
    return d.get(f"{key}_spread") or [d[key], d[key]]


def ratio(d, key):
    """A ratio as the tables show it: '1.22x [1.10, 1.31]', median and spread over the rounds."""
    lo, hi = spread_of(d, key)
    return f"{d[key]:.2f}x [{lo:.2f}, {hi:.2f}]"


def rounds_of(data):
    """How many rounds a benchmark ran (files from before the rounds say `repeats`)."""
    return data.get("rounds", data.get("repeats"))


def with_spreads_from_runs(data):
    """A pretraining file written before the rounds (docs/gpu/pretrain-gpu.json of 2026-11-27):
    its clustermim_runs and python*_runs were already measured alternately, so the per-round
    ratios and their spreads are computed from them here."""
    for r in data["rows"]:
        ours = r.get("clustermim_runs")
        if not ours:
            continue
        peak = r["peak_fraction"] / r["clustermim_images_per_second"]
        r.setdefault("peak_fraction_spread", [peak * min(ours), peak * max(ours)])
        for twin, _, _ in TWINS:
            ref = r.get(f"python{twin}_runs")
            if not ref or f"ratio_vs_python{twin}_spread" in r:
                continue
            ratios = [o / p for o, p in zip(ours, ref)]
            r[f"ratio_vs_python{twin}_spread"] = [min(ratios), max(ratios)]
            floor = r.get("gemm_floor_images_per_second")
            if floor and f"gemm_floor_ratio_vs_python{twin}" in r:
                r[f"gemm_floor_ratio_vs_python{twin}_spread"] = [floor / max(ref), floor / min(ref)]
    return data


def kmeans_section(out):
    data = load(os.path.join(out, "kmeans.json"))
    if data is None:
        return []
    lines = [
        "## K-means: clustermim vs scikit-learn MiniBatchKMeans",
        "",
        f"`build/bench_kmeans --rounds {rounds_of(data)}`"
        f" ({stamp(os.path.join(out, 'kmeans.json'))}):"
        f" {data['points']} pixel-patch vectors of {data['dim']} dims from {data['data']} (train),"
        f" {data['threads']} threads. clustermim: greedy k-means++ then up to {data['iterations']}"
        " Lloyd iterations" + (" (nearest centroids found by clustermim's fused AVX-512 kernel)"
                               if data.get("fused_nearest_kernel") else
                               " (nearest centroids by LibTorch's addmm and min: no AVX-512F)") +
        ". Reference: MiniBatchKMeans (batch 4096, 3 passes of"
        " `partial_fit`, as the paper's code; run with the same malloc thresholds). Objective = mean squared distance to the nearest"
        " centroid over all points (lower is better). Each round fits sklearn, then clustermim,"
        " with the round's seed; figures are medians over the rounds. The speed-up compares"
        " sklearn's fit with the time clustermim takes to reach that round's sklearn objective:"
        " median [min, max] over the rounds.",
        "",
        "| K | clustermim s to sklearn's objective | clustermim full fit s | clustermim objective"
        " | sklearn s | sklearn objective | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(f"| {r['k']} | {r['ours_seconds_to_sklearn_objective']:.2f} |"
                     f" {r['ours_seconds']:.2f} | {r['ours_objective']:.4f} |"
                     f" {r['sklearn_seconds']:.2f} | {r['sklearn_objective']:.4f} |"
                     f" {ratio(r, 'kmeans_ratio_vs_minibatch')} |")
    return lines + [""]


def loader_section(out):
    path = os.path.join(out, "loader.json")
    data = load(path)
    if data is None:
        return []
    ref = data["reference"]
    lines = [
        "## Data loader with augmentation",
        "",
        f"`build/bench_loader` (Google Benchmark; {stamp(path)}) and `bench/loader_reference.py`"
        " (PyTorch DataLoader, same RandomResizedCrop + flip + normalize, 32x32 images, batch 256),"
        f" run alternately by `bench/run.sh` for {data['rounds']} rounds and merged by"
        " `bench/loader_rounds.py`; images/s are medians over the rounds, the ratio compares the"
        " 2-worker pipelines round by round: median [min, max].",
        "",
        "| pipeline | images/s | ratio vs Python |",
        "|---|---:|---:|",
    ]
    for b in data["benchmarks"]:
        cell = ratio(data, "ratio_vs_python") if b["name"] == data["compared"] else "-"
        lines.append(f"| clustermim `{b['name']}` | {b['images_per_second']:.0f} | {cell} |")
    lines.append(f"| Python reference ({ref['kind']}, {ref['workers']} workers) |"
                 f" {ref['images_per_second']:.0f} | - |")
    return lines + [""]


TWINS = [  # key suffix, column, how the twin ran
    ("", "Python", "as is"),
    ("_tuned_malloc", "Python, same malloc", "with the malloc thresholds clustermim sets at start-up"),
    ("_sdpa", "Python, fused attention", "with F.scaled_dot_product_attention (as current timm)"),
]


def pretrain_section(out, name, title):
    path = os.path.join(out, name)
    data = load(path)
    if data is None:
        return []
    with_spreads_from_runs(data)
    twins = [t for t in TWINS if any(f"ratio_vs_python{t[0]}" in r for r in data["rows"])]
    where = data.get("device", "cpu")
    threads = f", {data['threads']} threads" if where == "cpu" else ""
    lines = [
        f"## {title}",
        "",
        f"`bench_pretrain --preset {data['preset']} --batch {data['batch']} --rounds"
        f" {rounds_of(data)} --device {where}` ({stamp(path)}): K = {data['vocab']} logits,"
        f" {data['gflop_per_step']:.0f} GFLOP per step"
        f"{threads};"
        f" median of {data['steps']} step{'s' if data['steps'] != 1 else ''} after"
        f" {data['warmup']} warm-up per round, clustermim and each twin alternating round by round;"
        " img/s are medians over the rounds, ratios the median [min, max] of the per-round ratios."
        " The Python twin (`bench/pretrain_reference.py`, MAE's recipe) runs "
        + "; ".join(how for _, _, how in twins) + "."
        f" GEMM peak measured in the same run: bf16 {data['gemm_bf16_peak_gflops']:.0f} GFLOP/s,"
        f" fp32 {data['gemm_fp32_peak_gflops']:.0f} GFLOP/s (best square matmul)."
        f" Peak host memory: clustermim {data['clustermim_peak_rss_mb']:.0f} MB (whole benchmark"
        " process), Python per row below.",
        "",
        "| precision | clustermim img/s | GFLOP/s | of GEMM peak | Python peak MB |"
        + "".join(f" {label} img/s | ratio |" for _, label, _ in twins)
        + " GEMM floor img/s | floor / Python |",
        "|---|---:|---:|---:|---:|" + "---:|---:|" * len(twins) + "---:|---:|",
    ]
    for r in data["rows"]:
        line = (f"| {r['precision']} | {r['clustermim_images_per_second']:.1f} |"
                f" {r['clustermim_gflops']:.0f} | {100 * r['peak_fraction']:.0f} % |"
                f" {r['python_peak_rss_mb']:.0f} |")
        for suffix, _, _ in twins:
            line += (f" {r[f'python{suffix}_images_per_second']:.1f} |"
                     f" {ratio(r, f'ratio_vs_python{suffix}')} |")
        floor = r.get("gemm_floor_images_per_second")
        line += (f" {floor:.1f} | {ratio(r, 'gemm_floor_ratio_vs_python')} |" if floor
                 else " - | - |")
        lines.append(line)
    lines += phase_lines(data) + profile_lines(data)
    return lines + ["", "GEMM floor: the step's matrix products alone (each forward product and its two"
                    " backward products, timed at their own shapes in the row's precision); floor /"
                    " Python bounds the ratio any fusion around LibTorch's GEMM kernels can reach.", ""]


# bench_finetune's files: (folder, name, summary prefix); "gpu" files come from scripts/gpu_check.sh.
FINETUNE_FILES = [("bench", "finetune.json", "finetune"),
                  ("bench", "finetune-small.json", "finetune_small"),
                  ("gpu", "finetune-gpu.json", "finetune_gpu")]


def finetune_files(out, gpu_out):
    """[(path, prefix, data)] of the bench_finetune files present in `out` and `gpu_out`."""
    folders = {"bench": out, "gpu": gpu_out}
    found = [(os.path.join(folders[f], name), prefix) for f, name, prefix in FINETUNE_FILES]
    return [(path, prefix, data) for path, prefix in found
            if (data := load(path)) is not None]


def finetune_section(out, gpu_out):
    """bench_finetune's files: the fine-tuning step against the twin of MAE's main_finetune step,
    one row per model, precision and device, and the training transform per image on one thread."""
    found = [(path, data) for path, _, data in finetune_files(out, gpu_out)]
    if not found:
        return []
    twins = [t for t in TWINS if any(f"ratio_vs_python{t[0]}" in r
                                     for _, d in found for r in d["rows"])]
    runs = "; ".join(
        f"`bench_finetune --preset {d['preset']} --batch {d['batch']} --classes {d['classes']}"
        f" --rounds {d['rounds']} --device {d.get('device', 'cpu')}` ({stamp(n)},"
        f" median of {d['steps']} step{'s' if d['steps'] != 1 else ''} after {d['warmup']}"
        f" warm-up per round{', %d threads' % d['threads'] if d.get('device', 'cpu') == 'cpu' else ''})"
        for n, d in found)
    recipe = found[0][1]["recipe"]
    lines = [
        "## Fine-tuning step: clustermim vs a Python twin of MAE's main_finetune",
        "",
        f"{runs}. Both sides run MAE's fine-tuning recipe on fixed random images: ViT with average"
        f" pooling + fc_norm, drop path {recipe['drop_path']}, layer-wise lr decay"
        f" {recipe['layer_decay']} groups into AdamW (weight decay {recipe['weight_decay']}),"
        f" Mixup {recipe['mixup_alpha']} / CutMix {recipe['cutmix_alpha']} (switch"
        f" {recipe['switch_prob']}) with label smoothing {recipe['label_smoothing']}, the"
        " soft-target cross-entropy, the gradient norm and the lr schedule every step. The twin"
        " (`bench/finetune_reference.py`) is MAE's `engine_finetune` step with timm's Mixup and"
        " MAE's `lr_decay.py` groups in plain PyTorch; it runs " + "; ".join(how for _, _, how in twins)
        + ". clustermim and the twin alternate round by round; img/s are medians over the rounds,"
        " ratios the median [min, max] of the per-round ratios.",
        "",
        "| model | precision | clustermim img/s | GFLOP/s | Python peak MB |"
        + "".join(f" {label} img/s | ratio |" for _, label, _ in twins),
        "|---|---|---:|---:|---:|" + "---:|---:|" * len(twins),
    ]
    for _, d in found:
        for r in d["rows"]:
            device = " (GPU)" if d.get("device", "cpu") != "cpu" else ""
            line = (f"| {d['preset']}, batch {d['batch']}{device} | {r['precision']} |"
                    f" {r['clustermim_images_per_second']:.1f} | {r['clustermim_gflops']:.0f} |"
                    f" {r['python_peak_rss_mb']:.0f} |")
            for suffix, _, _ in twins:
                line += (f" {r[f'python{suffix}_images_per_second']:.1f} |"
                         f" {ratio(r, f'ratio_vs_python{suffix}')} |" if f"ratio_vs_python{suffix}"
                         in r else " - | - |")
            lines.append(line)
    transforms = [d["transform"] for _, d in found if "transform" in d]
    if transforms:
        lines += ["", "The fine-tuning training transform alone, per image on one thread (no loader):"
                  " RandomResizedCrop (0.08-1) + flip, RandAugment rand-m9-mstd0.5-inc1, normalize,"
                  " random erasing 0.25, on random source images; clustermim's `finetune_transform`"
                  " against timm's transform on Pillow as MAE's `build_transform` makes it.", "",
                  "| source -> output | images per round | clustermim img/s | Python img/s | ratio |",
                  "|---|---:|---:|---:|---:|"]
        for t in transforms:
            lines.append(f"| {t['source']}x{t['source']} -> {t['size']} | {t['images']} |"
                         f" {t['clustermim_images_per_second']:.0f} |"
                         f" {t['python_images_per_second']:.0f} | {ratio(t, 'ratio_vs_python')} |")
    return lines + [""]


def gpu_check_lines(out):
    """The host, build and test lines of scripts/gpu_check.sh's logs (gpu_check.log, gpu_ctest.log)."""
    try:
        with open(os.path.join(out, "gpu_check.log")) as f:
            log = f.read().splitlines()
    except OSError:
        return []
    said = [l[len("gpu_check: "):] for l in log if l.startswith("gpu_check: ")]
    name, memory, driver = (log[0].split(", ") + ["?", "?"])[:3]
    host = [s for s in said if not s.startswith(("torch", "built", "tested", "done"))]
    torch = next((s.split(" ", 2)[1:] for s in said if s.startswith("torch ")), ["?", "?"])
    times = [s for s in said if s.startswith(("built", "tested", "done"))]
    lines = [f"GPU check (`scripts/gpu_check.sh`, {stamp(os.path.join(out, 'gpu_check.log'))}):"
             f" {name} ({memory}, driver {driver}); {'; '.join(host)}; LibTorch of the PyTorch"
             f" {torch[0]} wheel (CUDA {torch[1]}). Times from the start of the check: "
             + ", ".join(times) + "."]
    try:
        with open(os.path.join(out, "gpu_ctest.log")) as f:
            ctest = f.read()
    except OSError:
        return lines + [""]
    failed = re.findall(r"^\s+\d+ - (\S+) \((?!Skipped)([^)]+)\)$", ctest, re.M)
    skipped = re.findall(r"^\s+\d+ - (\S+) \(Skipped\)$", ctest, re.M)
    total = re.search(r"tests passed(?:, \d+ tests failed)? out of (\d+)", ctest)
    count = int(total.group(1)) if total else 0
    line = (f"CTest on the GPU host: {count - len(failed) - len(skipped)} passed,"
            f" {len(skipped)} skipped, {len(failed)} failed")
    if failed:
        line += ": " + ", ".join(f"`{name}` ({why})" for name, why in failed)
    return lines + ["", line + ".", ""]


def epoch_section(out):
    path = os.path.join(out, "epoch.json")
    data = load(path)
    if data is None:
        return []
    e = data["epoch"]
    lines = [
        "## End to end: loader + online tokens + step, and tokenization alone",
        "",
        f"`build/bench_epoch --steps {data['steps']} --rounds {rounds_of(data)}` ({stamp(path)}):"
        f" {data['steps']} steps of batch {data['batch']} on {data['images']} synthetic 32x32 RGB"
        f" images, {data['preset']}, K = {e['vocab']} pixel tokens, bf16, {data['threads']} threads."
        " clustermim runs its own `pretrain()` (loader threads, tokens on the augmented crop, step);"
        " the twin (`bench/epoch_reference.py`) is a torch DataLoader with 2 worker processes, the"
        " same transforms, `torch.cdist` tokens and the MAE-recipe step. Start-up of the loaders is"
        " included on both sides. The two alternate round by round; img/s are medians over the"
        " rounds, ratios the median [min, max] of the per-round ratios.",
        "",
        "| pipeline | clustermim img/s | Python img/s | ratio | clustermim peak MB | Python peak MB |",
        "|---|---:|---:|---:|---:|---:|",
        f"| pretraining epoch | {e['clustermim_images_per_second']:.1f} |"
        f" {e['python_images_per_second']:.1f} | {ratio(e, 'ratio_vs_python')} |"
        f" {e['clustermim_peak_rss_mb']:.0f} | {e['python_peak_rss_mb']:.0f} |",
        "",
        f"Tokenization alone (pixel K-means assignment, batches of {data['tokenize_batch']}):",
        "",
        "| K | clustermim img/s | Python img/s | ratio |",
        "|---:|---:|---:|---:|",
    ]
    for r in data["tokenize"]:
        lines.append(f"| {r['k']} | {r['clustermim_images_per_second']:.0f} |"
                     f" {r['python_images_per_second']:.0f} | {ratio(r, 'ratio_vs_python')} |")
    return lines + [""]


def decode_section(out):
    """bench_decode: the crop-aware decode and the streaming loader against torchvision."""
    data = load(os.path.join(out, "decode.json"))
    if data is None:
        return []
    lo, hi = data["stream_rss_peak_mb"]
    n = data["stream_rss_samples"]
    return [
        "## Streaming decode: clustermim vs torchvision", "",
        f"`bench_decode --images {data['images']} --passes {data['passes']} --size {data['size']}`"
        f" ({stamp(os.path.join(out, 'decode.json'))}): {data['images']} photo-sized JPEGs made by"
        " the benchmark (random 32x32 images upscaled bicubic to 500x375, Gaussian noise sigma 6,"
        f" quality 90; {data['mean_file_kb']:.0f} KB on average), decoded, RandomResizedCrop to"
        f" {data['size']}, flipped and normalized on one core; torchvision is ImageFolder +"
        " RandomResizedCrop on PIL (bench/decode_reference.py) in the same rounds.", "",
        "| pipeline | images/s | vs torchvision |", "|---|---:|---:|",
        f"| torchvision ImageFolder + DataLoader | {data['torchvision_images_per_second']:.0f} | 1x |",
        f"| clustermim decode_crop (DCT-scaled, crop rows only) | {data['ours_images_per_second']:.0f}"
        f" | {ratio(data, 'decode_crop_ratio_vs_torchvision')} |",
        f"| clustermim full decode + crop + resize | {data['full_decode_images_per_second']:.0f} |"
        " |",
        f"| clustermim streaming loader (index, read, decode_crop, batches) |"
        f" {data['stream_loader_images_per_second']:.0f} |"
        f" {ratio(data, 'stream_decode_ratio_vs_torchvision')} |", "",
        f"Peak resident memory of the streaming loader: {lo:.0f} MB after {n} samples,"
        f" {hi:.0f} MB after {4 * n} (`stream_rss_growth` {data['stream_rss_growth']:.2f}).", ""]


IMAGENET1K_TRAIN = 1281167  # images in ImageNet-1K's training split
DECODE_THREADS = (4, 8, 16, 32)


def imagenet_epoch_bound(out, gpu_out):
    """(GPU model, its bf16 step img/s, the streaming loader's img/s on one core) from the
    records, or None."""
    gpu = load(os.path.join(gpu_out, "pretrain-gpu.json")) or {}
    decode = load(os.path.join(out, "decode.json"))
    bf16 = [r for r in gpu.get("rows", []) if r["precision"] == "bf16"]
    if not bf16 or decode is None:
        return None
    return (gpu["preset"], bf16[0]["clustermim_images_per_second"],
            decode["stream_loader_images_per_second"])


def imagenet_epoch_sentence(out, gpu_out):
    """The bound on one ImageNet-1K pretraining epoch, as the README and PERFORMANCE.md say it."""
    bound = imagenet_epoch_bound(out, gpu_out)
    if bound is None:
        return None
    preset, step, per_thread = bound
    machine = (load(os.path.join(out, "run.json")) or {}).get("machine", "the benchmark's CPU")
    return (f"one ImageNet-1K pretraining epoch ({IMAGENET1K_TRAIN} images) takes at least"
            f" {IMAGENET1K_TRAIN / step / 60:.1f} minutes, the time of the {preset} bf16"
            f" step at its {step:.0f} img/s (pretrain-gpu.json of docs/gpu), reached when the"
            f" decode threads keep up: at the streaming loader's {per_thread:.0f} img/s per thread"
            f" on 500x375 JPEGs (decode.json of docs/bench, {machine}) that takes"
            f" {math.ceil(step / per_thread)} threads (`data.workers`), if they scale linearly. A"
            " bound from two benchmarks, not a measured epoch: no ImageNet epoch has been timed.")


def imagenet_epoch_section(out, gpu_out):
    """The ImageNet-1K epoch bound for several decode thread counts."""
    bound = imagenet_epoch_bound(out, gpu_out)
    if bound is None:
        return []
    _, step, per_thread = bound
    sentence = imagenet_epoch_sentence(out, gpu_out)
    lines = ["## ImageNet-1K epoch: the bound from the records", "",
             sentence[0].upper() + sentence[1:], "",
             "| decode threads | decode img/s | epoch minutes, at least | limited by |",
             "|---:|---:|---:|---|"]
    for threads in DECODE_THREADS:
        decode = threads * per_thread
        minutes = IMAGENET1K_TRAIN / min(step, decode) / 60
        lines.append(f"| {threads} | {decode:.0f} | {minutes:.1f} |"
                     f" {'decoding' if decode < step else 'the GPU step'} |")
    return lines + [""]


TARGETS = [  # key, target, what it is; a target is a floor unless LOWER_IS_BETTER names it
    ("pretrain_bf16_ratio_vs_python", 2.0, "vit-tiny-32 bf16 step vs the Python twin"),
    ("bf16_peak_fraction", 0.40, "vit-tiny-32 bf16 step GFLOP/s / bf16 GEMM peak"),
    ("epoch_ratio_vs_python", 2.0, "end-to-end epoch vs the Python pipeline"),
    ("kmeans_ratio_vs_minibatch", 3.0, "K-means to MiniBatchKMeans' objective (worst K)"),
    ("tcas_python_ratio_vs_numpy", 10.0,
     "clustermim.tcas vs numpy (np.add.at), 1 M patches x K = 8192"),
    ("import_clustermim_seconds", 0.5, "`import clustermim`, seconds (LibTorch not loaded)"),
    ("stream_decode_ratio_vs_torchvision", 3.0,
     "streaming loader, 500x375 JPEGs -> RandomResizedCrop 224, one core, vs torchvision"),
    ("stream_rss_growth", 1.1, "streaming loader peak memory, 4N samples over N"),
    ("pretrain_gpu_bf16_ratio_vs_python", 1.5, "GPU vit-base-16 bf16 step vs the Python twin"),
    ("pretrain_gpu_bf16_ratio_vs_python_sdpa", 1.5,
     "GPU vit-base-16 bf16 step vs the Python twin with fused attention"),
]


LOWER_IS_BETTER = {"import_clustermim_seconds", "stream_rss_growth"}


def put(s, key, d, source):
    """s[key] = d[source], the median over the rounds, and s[key_spread] = its [min, max]."""
    s[key] = d[source]
    s[f"{key}_spread"] = spread_of(d, source)


def summarize(out, gpu_out):
    """The headline figures, one key each, from the benchmark files; every ratio and the peak
    fraction with its spread over the rounds (`key`_spread)."""
    s = {}
    for folder, name, prefix, suffix in ((out, "pretrain.json", "pretrain", ""),
                                         (out, "pretrain-small.json", "pretrain_small", "_small"),
                                         (gpu_out, "pretrain-gpu.json", "pretrain_gpu", "_gpu")):
        data = load(os.path.join(folder, name))
        if data is None:
            continue
        with_spreads_from_runs(data)
        for r in data["rows"]:
            for twin, _, _ in TWINS:
                if f"ratio_vs_python{twin}" in r:
                    put(s, f"{prefix}_{r['precision']}_ratio_vs_python{twin}", r,
                        f"ratio_vs_python{twin}")
            s[f"{prefix}_{r['precision']}_images_per_second"] = r["clustermim_images_per_second"]
            if "gemm_floor_ratio_vs_python" in r:
                put(s, f"{prefix}_{r['precision']}_gemm_floor_ratio_vs_python", r,
                    "gemm_floor_ratio_vs_python")
                s[f"{prefix}_{r['precision']}_gemm_floor_images_per_second"] = r["gemm_floor_images_per_second"]
        bf16 = [r for r in data["rows"] if r["precision"] == "bf16"]
        if bf16:
            put(s, "bf16_peak_fraction" + suffix, bf16[0], "peak_fraction")
        s.setdefault("gemm_bf16_peak_gflops", data["gemm_bf16_peak_gflops"])
    epoch = load(os.path.join(out, "epoch.json"))
    if epoch is not None:
        put(s, "epoch_ratio_vs_python", epoch["epoch"], "ratio_vs_python")
        s["epoch_peak_rss_mb"] = epoch["epoch"]["clustermim_peak_rss_mb"]
        s["epoch_python_peak_rss_mb"] = epoch["epoch"]["python_peak_rss_mb"]
        for r in epoch["tokenize"]:
            put(s, f"tokenize_k{r['k']}_ratio_vs_python", r, "ratio_vs_python")
    for _, prefix, data in finetune_files(out, gpu_out):
        for r in data["rows"]:
            for twin, _, _ in TWINS:
                if f"ratio_vs_python{twin}" in r:
                    put(s, f"{prefix}_{r['precision']}_ratio_vs_python{twin}", r,
                        f"ratio_vs_python{twin}")
            s[f"{prefix}_{r['precision']}_images_per_second"] = r["clustermim_images_per_second"]
        if "transform" in data:
            put(s, f"{prefix}_transform_ratio_vs_python", data["transform"], "ratio_vs_python")
    loader = load(os.path.join(out, "loader.json"))
    if loader is not None:
        put(s, "loader_ratio_vs_python", loader, "ratio_vs_python")
    tcas_python = load(os.path.join(out, "tcas_python.json"))
    if tcas_python is not None:
        put(s, "tcas_python_ratio_vs_numpy", tcas_python, "tcas_python_ratio_vs_numpy")
        put(s, "import_clustermim_seconds", tcas_python, "import_seconds")
    decode = load(os.path.join(out, "decode.json"))
    if decode is not None:
        put(s, "stream_decode_ratio_vs_torchvision", decode, "stream_decode_ratio_vs_torchvision")
        put(s, "decode_crop_ratio_vs_torchvision", decode, "decode_crop_ratio_vs_torchvision")
        put(s, "stream_rss_growth", decode, "stream_rss_growth")
    kmeans = load(os.path.join(out, "kmeans.json"))
    if kmeans is not None:
        for r in kmeans["rows"]:
            put(s, f"kmeans_k{r['k']}_ratio_vs_minibatch", r, "kmeans_ratio_vs_minibatch")
        # The worst K: round by round its ratio lies between the smallest low end and the
        # smallest high end of the rows' spreads.
        spreads = [spread_of(r, "kmeans_ratio_vs_minibatch") for r in kmeans["rows"]]
        s["kmeans_ratio_vs_minibatch"] = min(r["kmeans_ratio_vs_minibatch"] for r in kmeans["rows"])
        s["kmeans_ratio_vs_minibatch_spread"] = [min(lo for lo, _ in spreads),
                                                 min(hi for _, hi in spreads)]
    return s


def verdict(lo, hi, target, lower_is_better=False):
    """Whether a target is met: only when the whole spread clears it."""
    if lower_is_better:
        return verdict(-hi, -lo, -target)
    if lo >= target:
        return "yes"
    return "no" if hi < target else "spread crosses the target"


def gaps(summary):
    """Where the gaps to the targets come from, with the measured GEMM floor where there is one."""
    floor = summary.get("pretrain_bf16_gemm_floor_ratio_vs_python")
    step = summary.get("pretrain_bf16_images_per_second")
    floor_ips = summary.get("pretrain_bf16_gemm_floor_images_per_second")
    measured = ""
    if floor and step and floor_ips:
        lo, hi = summary["pretrain_bf16_gemm_floor_ratio_vs_python_spread"]
        reach = verdict(lo, hi, 2.0)
        where = {"yes": "above the 2x target over the whole spread",
                 "no": "below the 2x target over the whole spread",
                 "spread crosses the target": "a spread that crosses the 2x target"}[reach]
        consequence = {
            "no": "needs faster GEMM kernels at these shapes (or larger ones), not only fusion.",
            "yes": "is within reach of fusion, but only by moving most of that time into fused"
                   " kernels: it is spread over many operators.",
            "spread crosses the target": "is at the edge of what fusion alone can reach: even a"
                                         " step of GEMMs alone would not clear it in every round.",
        }[reach]
        measured = (
            f" Measured in the same run: a vit-tiny-32 bf16 step made of its matrix products alone,"
            f" each at its own small shape, would run at {floor_ips:.0f} img/s,"
            f" {floor:.2f}x [{lo:.2f}, {hi:.2f}] the Python twin's whole step, {where};"
            f" clustermim's step spends {100 * (1 - step / floor_ips):.0f} % of its time outside"
            " them. A step of nothing but those GEMMs is the ceiling of any fusion of the other"
            " operations, so the 2x target " + consequence)
    return (
        "Where the gaps come from: the step's GEMMs run on the same oneDNN/OpenBLAS kernels the"
        " Python twin uses; what clustermim removes is the overhead around them (one addmm per"
        " linear with its bias cast by autocast, no gradient zeroing, a one-pass AdamW, the decoder"
        " head on masked patches only). The rest of the step is autocast casts and copies (the"
        " residual stream and LayerNorm stay fp32 under CPU autocast), residual adds, small"
        " attention bmm's and softmax, and the exact GELU; LibTorch"
        " leaves them unfused, and apart from the token loss (one autograd function with a hand-written"
        " backward) no fused kernels of ours are written yet." + measured +
        " The end-to-end ratio follows the step (the loader and tokenizer are far faster than the"
        " step)." + kmeans_gap(summary) + gpu_gap(summary))


def kmeans_gap(summary):
    """Why K-means misses its target, where it does."""
    spread = summary.get("kmeans_ratio_vs_minibatch_spread")
    if spread is None or spread[0] >= 3.0:
        return ""
    return (" K-means: the time to MiniBatchKMeans' objective is greedy k-means++ on a sample and"
            " the first Lloyd iterations; the k-means++ candidate distances are narrow GEMMs"
            " (a few candidates, D = 48) that run well below the GEMM peak.")


def gpu_gap(summary):
    """The GPU step against its GEMM floor and the fused-attention twin, where measured."""
    step = summary.get("pretrain_gpu_bf16_images_per_second")
    floor = summary.get("pretrain_gpu_bf16_gemm_floor_images_per_second")
    sdpa = summary.get("pretrain_gpu_bf16_ratio_vs_python_sdpa")
    if not (step and floor and sdpa):
        return ""
    return (f" GPU: the vit-base-16 step runs at {step:.0f} img/s"
            f" ({100 * summary['bf16_peak_fraction_gpu']:.0f} % of the bf16 GEMM peak, its model"
            f" FLOPs utilization); its GEMMs alone would run at {floor:.0f} img/s, so"
            f" {100 * (1 - step / floor):.0f} % of the step is spent outside them, and the twin"
            f" with fused attention runs at {step / sdpa:.0f} img/s. clustermim attends with the"
            " same fused kernel there; the GPU step has no operator profile yet (the profiler"
            " used here is LibTorch 1.x's).")


def phase_lines(data):
    """The step split into forward, backward and the optimizer, clustermim's and each twin's
    (bench_pretrain's first run)."""
    def split(phases, step_ms):
        return (f"forward {phases['forward']:.1f} ms, backward {phases['backward']:.1f} ms,"
                f" optimizer {phases['optimizer']:.1f} ms of a {step_ms:.1f} ms step")
    cells = []
    for r in data["rows"]:
        if not r.get("phase_ms", {}).get("forward"):
            continue
        step = 1000 * data["batch"] / r["clustermim_images_per_second"]
        cell = f"{r['precision']}: clustermim {split(r['phase_ms'], step)}"
        for twin, _, how in TWINS:
            phases = r.get(f"python{twin}_phase_ms")
            if phases:
                step = 1000 * data["batch"] / r[f"python{twin}_images_per_second"]
                cell += f"; the Python twin {how}: {split(phases, step)}"
        cells.append(cell)
    if not cells:
        return []
    return ["", "The step by phase (extra steps of the first run, the device synchronised between"
            " phases; the optimizer is AdamW): " + ". ".join(cells) + "."]


def profile_lines(data):
    """The profiled operators of the bf16 step (the targets' precision), as shares of the profiled
    self time."""
    bf16 = [r for r in data["rows"] if r["precision"] == "bf16" and r.get("profile")]
    if not bf16:
        return []
    total = bf16[0]["profile_total_ms_per_step"]
    cells = ", ".join(f"`{o['op']}` {100 * o['ms_per_step'] / total:.0f} %"
                      for o in bf16[0]["profile"][:12])
    step_ms = 1000 * data["batch"] / bf16[0]["clustermim_images_per_second"]
    return ["", "bf16 step, operators by self time (LibTorch's profiler, share of the profiled"
            f" time; `--profile`): {cells}. A profiled step took {total:.0f} ms against"
            f" {step_ms:.0f} ms without the profiler; its cost falls on every operator call, so"
            " these shares overstate the many small operators (copies, casts, adds)."]


def targets_section(summary):
    lines = ["## Targets", "",
             "Each figure is the median over the benchmark's rounds, with the [min, max] spread of"
             " the per-round values; a target is met only when the whole spread clears it.", "",
             "| figure | measured: median [min, max] | target | met |", "|---|---:|---:|---|"]
    for key, target, what in TARGETS:
        if key not in summary:
            continue
        value, (lo, hi) = summary[key], summary[f"{key}_spread"]
        lower = key in LOWER_IS_BETTER
        if "fraction" in key:
            shown = f"{100 * value:.0f} % [{100 * lo:.0f}, {100 * hi:.0f} %]"
            goal = f"{100 * target:.0f} %"
        elif key.endswith("seconds"):
            shown, goal = f"{value:.3f} s [{lo:.3f}, {hi:.3f}]", f"below {target:.1f} s"
        else:
            shown = f"{value:.2f}x [{lo:.2f}, {hi:.2f}]"
            goal = f"below {target:.1f}x" if lower else f"{target:.1f}x"
        lines.append(f"| {what} (`{key}`) | {shown} | {goal} |"
                     f" {verdict(lo, hi, target, lower)} |")
    return lines + ["", gaps(summary), ""]


def kmeans_sentence(out):
    """The README's K-means sentence, or None without kmeans.json."""
    data = load(os.path.join(out, "kmeans.json"))
    if data is None:
        return None
    parts = [f"K = {r['k']}: {r['kmeans_ratio_vs_minibatch']:.1f}x"
             f" [{spread_of(r, 'kmeans_ratio_vs_minibatch')[0]:.1f},"
             f" {spread_of(r, 'kmeans_ratio_vs_minibatch')[1]:.1f}] faster to sklearn's objective"
             f" ({r['ours_objective']:.3f} vs {r['sklearn_objective']:.3f} after the full fit)"
             for r in data["rows"]]
    return ("K-means against scikit-learn's MiniBatchKMeans on the same "
            f"{data['points']} patch vectors ({data['threads']} threads; median [min, max] over"
            f" {rounds_of(data)} rounds): " + "; ".join(parts) + ".")


def render_readme(text, out, gpu_out):
    """`text` (the README) with the sentences between its perf markers (<!-- perf:NAME --> ...
    <!-- /perf:NAME -->) rendered from the records; a marker without its records stays as is."""
    for name, sentence in (("kmeans", kmeans_sentence(out)),
                           ("imagenet-epoch", imagenet_epoch_sentence(out, gpu_out))):
        begin, end = f"<!-- perf:{name} -->", f"<!-- /perf:{name} -->"
        if sentence is None or begin not in text:
            continue
        head, rest = text.split(begin, 1)
        text = head + begin + sentence + end + rest.split(end, 1)[1]
    return text


def record(source, records, mode, seconds):
    """Copies the benchmark files of `source` to `records` (replaced whole) with run.json and
    stamps.json (see the top of the file)."""
    tmp = records.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    stamps = {}
    for name in sorted(os.listdir(source)):
        path = os.path.join(source, name)
        if name.endswith(".json") and name != "summary.json" and os.path.isfile(path):
            shutil.copyfile(path, os.path.join(tmp, name))
            stamps[name] = stamp(path)
    run = {"mode": mode, "wall_s": seconds, "machine": cpu_model(), "cores": os.cpu_count(),
           "date": max(stamps.values(), default="")}
    for name, value in (("stamps.json", stamps), ("run.json", run)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(records, ignore_errors=True)
    os.replace(tmp, records)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench-out", default="docs/bench", help="the benchmark records")
    p.add_argument("--record", metavar="DIR",
                   help="first copy bench/run.sh's files from DIR into --bench-out")
    p.add_argument("--check", action="store_true",
                   help="only say whether --out is the render of the records (exit 1 if not)")
    p.add_argument("--gpu-out", default="docs/gpu", help="scripts/gpu_check.sh's files")
    p.add_argument("--out", default="docs/PERFORMANCE.md")
    p.add_argument("--readme", default="README.md")
    p.add_argument("--mode", default="full", help="quick | full (as bench/run.sh ran)")
    p.add_argument("--seconds", type=float, default=0, help="wall time of bench/run.sh")
    args = p.parse_args()
    if args.record:
        record(args.record, args.bench_out, args.mode, args.seconds)
    run = load(os.path.join(args.bench_out, "run.json")) or {
        "mode": args.mode, "wall_s": args.seconds, "machine": cpu_model(), "cores": os.cpu_count(),
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")}
    summary = summarize(args.bench_out, args.gpu_out)
    summary.update(run)
    lines = ["# Performance", "",
             "Generated by `scripts/render_performance.py` from the benchmark records in"
             " `docs/bench/` (`bench/run.sh [--quick]` writes them) and `docs/gpu/`"
             " (`scripts/gpu_check.sh`); do not edit by hand.", "",
             f"Machine: {run['machine']}, {run['cores']} cores. Benchmarks run {run['date']} by"
             f" `bench/run.sh{' --quick' if run['mode'] == 'quick' else ''}`"
             f" ({run['wall_s'] / 60:.1f} min); each section says when its benchmark ran.", ""]
    lines += targets_section(summary)
    lines += pretrain_section(args.bench_out, "pretrain.json",
                              "Pretraining step: clustermim vs the Python PyTorch twin")
    lines += pretrain_section(args.bench_out, "pretrain-small.json",
                              "Pretraining step at 224 px: vit-small-16")
    gpu = pretrain_section(args.gpu_out, "pretrain-gpu.json",
                           "GPU: vit-base-16 pretraining step (scripts/gpu_check.sh)")
    gpu += gpu_check_lines(args.gpu_out) if gpu else []
    lines += gpu or ["## GPU", "", "Not measured yet: no GPU was available where these figures were"
                     " made. `scripts/gpu_check.sh` on a CUDA host (PyTorch wheel installed) builds,"
                     " tests and times a 224 px vit-base-16 step against the Python twin with AMP"
                     " and fills this section.", ""]
    lines += finetune_section(args.bench_out, args.gpu_out)
    lines += epoch_section(args.bench_out)
    lines += kmeans_section(args.bench_out)
    lines += loader_section(args.bench_out)
    lines += decode_section(args.bench_out)
    lines += imagenet_epoch_section(args.bench_out, args.gpu_out)
    text = "\n".join(lines)
    readme = open(args.readme).read() if os.path.exists(args.readme) else None
    rendered_readme = readme and render_readme(readme, args.bench_out, args.gpu_out)
    if args.check:
        current = open(args.out).read() if os.path.exists(args.out) else ""
        for path, now, rendered in ((args.out, current, text),
                                    (args.readme, readme, rendered_readme)):
            if now != rendered:
                sys.exit(f"{path}: not the render of the records in {args.bench_out}/"
                         " (run scripts/render_performance.py)")
        return
    write_atomic(os.path.join(args.bench_out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    write_atomic(args.out, text)
    if readme is not None:
        write_atomic(args.readme, rendered_readme)
    for key, value in summary.items():
        if isinstance(value, float):
            print(f"{key:40s} {value:.3f}")
        elif isinstance(value, list):
            print(f"{key:40s} [{', '.join(f'{v:.3f}' for v in value)}]")
        else:
            print(f"{key:40s} {value}")
    print(f"wrote {args.out} and {os.path.join(args.bench_out, 'summary.json')}")


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
