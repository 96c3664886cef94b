#!/usr/bin/env python3
"""Writes docs/RESULTS.md from the report.json files of `clustermim run` (never by hand).

    scripts/results.py runs/cifar10 [runs/other ...] [--out docs/RESULTS.md]

Each run becomes a section: the command that produced it, data, model, budget, machine, time
(pretraining step time summed over resumed invocations, evaluation time), the TCAS of each
tokenizer, k-NN / linear-probe top-1 of every method, bootstrapped rounds with their teacher
block sweep, what the numbers say of SPEC section 6's claims (computed, never typed), and the
run's training curves (copied next to the output as PNG).
"""
import argparse
import json
import os
import shutil


def pct(row, key):
    value = row.get(key)
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "-"


def minutes(row, key):
    value = row.get(key)
    return f"{value / 60:.1f}" if isinstance(value, (int, float)) else "-"


def rate(row, key):
    value = row.get(key)
    return f"{value:.0f}" if isinstance(value, (int, float)) and value > 0 else "-"


def rounds_lines(report):
    lines = []
    for r in report.get("rounds", []):
        block = "after the final norm" if r["block"] < 0 else f"block {r['block']}"
        lines.append(f"- round {r['round']}: feature K-means on `{r['teacher']}`, {block} (rule:"
                     f" `tokenizer.bootstrap_block = {r['rule']}`), TCAS {r['tcas']:.4f}")
        if r.get("sweep"):
            cells = ", ".join(f"{'norm' if b['block'] < 0 else b['block']}: {b['tcas']:.4f}"
                              for b in r["sweep"])
            lines.append(f"  - sweep, TCAS on held-out training images by teacher block: {cells}")
    return lines + [""] if lines else []


def compare(a, b, key, label):
    """One sentence: row a against row b on `key`, in points."""
    if not all(isinstance(r.get(key), (int, float)) for r in (a, b)):
        return None
    diff = 100 * (a[key] - b[key])
    word = "above" if diff > 0 else "below" if diff < 0 else "level with"
    return f"{a['method']} {label} {100 * a[key]:.1f} % is {abs(diff):.1f} points {word} {b['method']} ({100 * b[key]:.1f} %)"


def findings_lines(rows):
    by = {r["method"]: r for r in rows}
    lines = []
    for method, other in [("clustermim", "mae"), ("clustermim", "random-init"), ("mae", "random-init")]:
        if method in by and other in by:
            for key, label in [("knn_top1", "k-NN"), ("linear_top1", "linear probe")]:
                sentence = compare(by[method], by[other], key, label)
                if sentence:
                    lines.append(f"- {sentence}.")
    previous = by.get("clustermim")
    for r in sorted((r for r in rows if r.get("round", 1) > 1), key=lambda r: r["round"]):
        if previous and isinstance(r.get("tcas"), (int, float)) and isinstance(previous.get("tcas"), (int, float)):
            lower = "lower" if r["tcas"] < previous["tcas"] else "not lower"
            lines.append(f"- round {r['round']} tokens: TCAS {r['tcas']:.4f}, {lower} than round"
                         f" {previous.get('round', 1)}'s {previous['tcas']:.4f} (same K {r.get('vocab')}).")
        if previous:
            sentence = compare(r, previous, "linear_top1", "linear probe")
            if sentence:
                lines.append(f"- {sentence}, at the same budget.")
        previous = r
    if not lines:
        return []
    return ["Against SPEC section 6 (one seed per row, so the spread between seeds is not known"
            " here; `scripts/study.sh` runs two seeds of the main rows):", ""] + lines + [""]


def section(run_dir, docs_dir):
    with open(os.path.join(run_dir, "report.json")) as f:
        report = json.load(f)
    config, machine = report["config"], report["machine"]
    lines = [
        f"## {run_dir}",
        "",
        f"- command: `{report.get('command', '')}`",
        f"- data: `{config['data']['dataset']}` (pretrain and fit on `{config['data']['train_split']}`,"
        f" evaluate on `{config['data']['eval_split']}`)",
        f"- model: `{config['model']['preset']}`, {config['pretrain']['epochs']} epochs, batch"
        f" {config['pretrain']['batch_size']}, blr {config['pretrain']['blr']},"
        f" {'bf16' if config['pretrain']['bf16'] else 'fp32'}",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, LibTorch {machine['libtorch']},"
        f" device {machine['device']}, {machine['date']}",
        f"- time: pretraining = time in training steps summed over resumed invocations;"
        f" the last invocation of the command took {report['wall_s'] / 60:.1f} min",
        f"- corrupt samples skipped: {report.get('skipped_samples', {}).get('train', 0)} train,"
        f" {report.get('skipped_samples', {}).get('eval', 0)} eval",
        "",
        "| method | tokenizer | K | TCAS | k-NN top-1 % | linear top-1 % | pretrain min | img/s |"
        " tokens img/s | eval min |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        tcas = f"{r['tcas']:.4f}" if isinstance(r.get("tcas"), (int, float)) else "-"
        speed, tokens = rate(r, "pretrain_images_per_second"), rate(r, "tokenizer_images_per_second")
        lines.append(f"| {r['method']} | {r.get('tokenizer', '-')} | {r.get('vocab', '-')} | {tcas} |"
                     f" {pct(r, 'knn_top1')} | {pct(r, 'linear_top1')} | {minutes(r, 'pretrain_s')} |"
                     f" {speed} | {tokens} | {minutes(r, 'eval_s')} |")
    lines += ["", "img/s: pretraining images per second of training step (tokenizer included);"
              " tokens img/s: the tokenizer alone (for feature tokens, the teacher's forward pass);"
              " eval min: evaluation in the last invocation (features cached by an earlier one are"
              " loaded, not extracted again).", ""]
    lines += rounds_lines(report) + findings_lines(report["rows"])
    curves = os.path.join(run_dir, "curves.png")
    if os.path.exists(curves):
        name = os.path.basename(os.path.normpath(run_dir)) + "-curves.png"
        shutil.copyfile(curves, os.path.join(docs_dir, name))
        lines += [f"![training curves of {run_dir}]({name})", ""]
    return lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", help="run folders holding report.json")
    p.add_argument("--out", default="docs/RESULTS.md")
    args = p.parse_args()
    lines = ["# Results", "",
             "Generated by `scripts/results.py " + " ".join(args.runs) + "` from the runs'"
             " report.json files; do not edit by hand. CIFAR-10 pixels carry JPEG (quality 75)"
             " artefacts.", ""]
    docs_dir = os.path.dirname(args.out) or "."
    os.makedirs(docs_dir, exist_ok=True)
    for run in args.runs:
        lines += section(run, docs_dir)
    with open(args.out + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
