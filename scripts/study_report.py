#!/usr/bin/env python3
"""Writes docs/STUDY.md and its plots from the study's run outputs (never by hand).

    scripts/study_report.py [--records docs/study] [--out docs/STUDY.md]

Reads the records docs/study/<dataset>/<row>.json, the report.json of each finished row that
scripts/study.sh copies there (committed, so the report can be rewritten on any clone). Per
dataset: a table
of every row (TCAS on the test split, k-NN and linear-probe top-1, the mean and half-range over
the seeds where a row has two), Spearman's rank correlation of TCAS with linear-probe accuracy
across the token rows (with its p-value), plots of TCAS against accuracy and of accuracy against
K, the paper's claims (SPEC section 6) checked one by one against these numbers, the seed spread
as the yardstick for which rows are separated, and, on CIFAR-10 at SPEC section 7's 8-epoch
budget, the rows that the Python reference measured set beside its numbers. The fine-tuning grid
(docs/study/cifar10-finetune) gets its own section: fine-tune top-1 beside the k-NN and linear
probe, each pretrained row's gain over the same network trained from scratch at the same seed,
the claims under fine-tuning and issue 18's target. The header dates the report by the newest
record, so the same records always give the same file.
"""
import argparse
import itertools
import json
import os
import statistics

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy import stats  # noqa: E402

BASELINES = ("mae", "mae-norm", "random-init")
DATASETS = ("cifar10", "cifar10-finetune", "fashion-mnist")
FINETUNE_GRID = "cifar10-finetune"
FINETUNE_ROWS = ("pixel-64", "feature-64", "mae", "random-init")
# Issue 18's target: a ClusterMIM-pretrained encoder fine-tunes this many points above the same
# network from scratch, on every seed.
FINETUNE_TARGET_POINTS = 3.0

# SPEC section 7: the Python implementation of the spec on CIFAR-10, 8 epochs, one seed (CLS
# features): row -> (k-NN %, linear %), and the test-split TCAS of its tokenizers.
SPEC7_EPOCHS = 8
SPEC7_ACCURACY = {"random-init": (34.4, 46.0), "pixel-64": (45.0, 51.2), "mae-norm": (47.7, 51.0)}
SPEC7_TCAS = {"label": 0.000, "pixel-16": 0.982, "pixel-64": 0.972, "pixel-256": 0.964,
              "pixel-1024": 0.958}


def load_rows(root):
    """{row name: [one dict per seed]} from every record <row>.json in root."""
    rows = {}
    for file in sorted(os.listdir(root)):
        name, ext = os.path.splitext(file)
        if ext != ".json":
            continue
        with open(os.path.join(root, file)) as f:
            report = json.load(f)
        config = report["config"]
        seed = 1 if name.endswith("-s1") else 0
        base = name[:-3] if seed else name
        for r in report["rows"]:
            entry = dict(r, command=report.get("command", ""), machine=report["machine"],
                         epochs=config["pretrain"]["epochs"], seed=seed, config=config,
                         record=name, record_wall_s=report.get("wall_s"))
            if r["method"] == "clustermim-r2":
                key = "feature-64"
            elif base == "feature-best":
                key = f"feature-{r['vocab']}"
            else:
                key = base
            rows.setdefault(key, []).append(entry)
    return rows


def mean(entries, key):
    values = [e[key] for e in entries if isinstance(e.get(key), (int, float))]
    return statistics.mean(values) if values else None


def half_range(entries, key):
    values = [e[key] for e in entries if isinstance(e.get(key), (int, float))]
    return (max(values) - min(values)) / 2 if len(values) > 1 else None


def kind_and_k(name):
    kind, _, k = name.rpartition("-")
    return (kind, int(k)) if k.isdigit() else (name, None)


def pct(entries, key):
    m, h = mean(entries, key), half_range(entries, key)
    if m is None:
        return "-"
    return f"{100 * m:.1f}" + (f" ± {100 * h:.1f}" if h is not None else "")


def table(rows):
    lines = ["| row | targets | K | TCAS (test) | k-NN top-1 % | linear top-1 % | seeds |"
             " pretrain min | command (seed 0) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    order = sorted(rows, key=lambda n: (n in BASELINES, kind_and_k(n)[0], kind_and_k(n)[1] or 0))
    for name in order:
        entries = rows[name]
        tcas = mean(entries, "tcas")
        minutes = mean(entries, "pretrain_s")
        first = min(entries, key=lambda e: e["seed"])
        lines.append(
            f"| {name} | {first.get('tokenizer', '-')} | {first.get('vocab', '-')} |"
            f" {'-' if tcas is None else f'{tcas:.4f}'} | {pct(entries, 'knn_top1')} |"
            f" {pct(entries, 'linear_top1')} | {len(entries)} |"
            f" {'-' if minutes is None else f'{minutes / 60:.0f}'} | `{first['command']}` |")
    return lines


def spearman_test(x, y):
    """Spearman's rho and its two-sided p-value: exact (every permutation of y) for n <= 9,
    where the t approximation of scipy's spearmanr is far off (it gives p = 0 for three points
    in order), scipy's otherwise."""
    rho, p = stats.spearmanr(x, y)
    if len(x) <= 9:
        rx, ry = stats.rankdata(x), stats.rankdata(y)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        perms = np.array(list(itertools.permutations(ry)))
        rhos = perms @ rx / np.sqrt((rx @ rx) * (ry @ ry))
        p = float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
    return rho, p


def token_rows(rows):
    return {n: e for n, e in rows.items() if n not in BASELINES and mean(e, "tcas") is not None}


def kmeans_rows(rows):
    """The pixel and feature K-means rows: the tokenizers that lie between label and random."""
    return {n: e for n, e in token_rows(rows).items() if n.startswith(("pixel-", "feature-"))}


def spearman(tokens):
    """Spearman's rho of TCAS with linear accuracy over `tokens`, its p-value and n."""
    if len(tokens) < 3:
        return None
    x = [mean(e, "tcas") for e in tokens.values()]
    y = [mean(e, "linear_top1") for e in tokens.values()]
    rho, p = spearman_test(x, y)
    return rho, p, len(tokens)


def plot_tcas(rows, path, corr):
    """TCAS against linear accuracy: every token row (left) and, where the K-means rows crowd
    between the label (TCAS 0) and random (TCAS 1) tokens, those rows alone (right)."""
    tokens, inner = token_rows(rows), kmeans_rows(rows)
    panels = 2 if len(inner) >= 3 and len(inner) < len(tokens) else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.4), dpi=120, squeeze=False)
    for ax, shown in zip(axes[0], (tokens, inner)):
        for name, entries in shown.items():
            x, y = mean(entries, "tcas"), 100 * mean(entries, "linear_top1")
            spread = half_range(entries, "linear_top1")
            ax.errorbar(x, y, yerr=None if spread is None else 100 * spread, fmt="o", capsize=3,
                        color="tab:blue" if name.startswith("pixel") else
                        "tab:green" if name.startswith("feature") else "tab:gray")
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
        for name, style in (("mae", "--"), ("mae-norm", ":"), ("random-init", "-.")):
            if name in rows:
                ax.axhline(100 * mean(rows[name], "linear_top1"), color="tab:red", linestyle=style,
                           linewidth=1, label=name)
        ax.set_xlabel("TCAS on the test split (lower = tokens closer to classes)")
        ax.set_ylabel("linear probe top-1 % (bars: seed range)")
        ax.legend(fontsize=8, loc="lower left")
    if corr:
        axes[0][0].set_title(f"Spearman rho = {corr[0]:.2f} (p = {corr[1]:.3f}, n = {corr[2]})")
    if panels == 2:
        rho, p, n = spearman(inner)
        axes[0][1].set_title(f"K-means rows only: rho = {rho:.2f} (p = {p:.3f}, n = {n})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_k(rows, path):
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for kind, color in (("pixel", "tab:blue"), ("feature", "tab:green")):
        points = sorted((kind_and_k(n)[1], e) for n, e in rows.items() if kind_and_k(n)[0] == kind)
        if not points:
            continue
        ks = [k for k, _ in points]
        ax.plot(ks, [100 * mean(e, "linear_top1") for _, e in points], "o-", color=color,
                label=f"{kind} K-means, linear")
        ax.plot(ks, [100 * mean(e, "knn_top1") for _, e in points], "s--", color=color,
                alpha=0.6, label=f"{kind} K-means, k-NN")
    for name, style in (("mae", "--"), ("random-init", "-.")):
        if name in rows:
            ax.axhline(100 * mean(rows[name], "linear_top1"), color="tab:red", linestyle=style,
                       linewidth=1, label=f"{name}, linear")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("K (vocabulary size)")
    ax.set_ylabel("top-1 %")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def compare(rows, a, b, key="linear_top1"):
    """'a beats b' verdict with the seed spread as the noise level."""
    if a not in rows or b not in rows:
        return None, f"{a} or {b} has not run yet"
    ma, mb = mean(rows[a], key), mean(rows[b], key)
    noise = (half_range(rows[a], key) or 0) + (half_range(rows[b], key) or 0)
    diff = 100 * (ma - mb)
    detail = f"{a} {100 * ma:.1f} % vs {b} {100 * mb:.1f} % ({diff:+.1f} points; seed noise ±{100 * noise:.1f})"
    if noise == 0:
        return None, detail + "; only one seed of each, so no verdict on noise"
    if abs(diff) <= 100 * noise:
        return None, detail + ": within seed noise"
    return diff > 0, detail


def verdict(flag):
    return {True: "supported", False: "contradicted", None: "not decided"}[flag]


def tcas_flag(rho, p):
    """Claim 3's verdict for one correlation: a significant negative rho supports it."""
    return None if p >= 0.05 else rho < 0


def trend(rows, kind):
    points = sorted((kind_and_k(n)[1], mean(e, "linear_top1")) for n, e in rows.items()
                    if kind_and_k(n)[0] == kind)
    if len(points) < 3:
        return None, "fewer than 3 K values have run"
    rho, p = spearman_test([k for k, _ in points], [a for _, a in points])
    cells = ", ".join(f"K {k}: {100 * a:.1f} %" for k, a in points)
    return (rho, p), f"{cells} (Spearman of K with accuracy {rho:+.2f}, p = {p:.3f})"


def trend_verdict(result, sign):
    """'supported' / 'contradicted' when the K trend is significant (p < 0.05), else its direction."""
    if result is None:
        return "not decided"
    rho, p = result
    agrees = rho * sign > 0
    if p < 0.05:
        return "supported" if agrees else "contradicted"
    return f"not decided (the direction {'agrees' if agrees else 'disagrees'}, not significant)"


def claims(rows, corr):
    lines = []
    flag, text = compare(rows, "pixel-64", "mae")
    lines.append(f"1. *ClusterMIM Pixel beats MAE at the same budget*: {verdict(flag)}. Linear probe: {text}.")
    feature = [n for n in rows if n.startswith("feature-")]
    best = max(feature, key=lambda n: mean(rows[n], "linear_top1")) if feature else "feature-64"
    flag, text = compare(rows, best, "pixel-64")
    lines.append(f"2. *ClusterMIM on features of a pretrained model beats ClusterMIM Pixel* (here the"
                 f" teacher is our own pixel-64 encoder, not DINO): {verdict(flag)}. {text}.")
    if corr:
        rho, p, n = corr
        flag = tcas_flag(rho, p)
        tokens = token_rows(rows)
        best_token = max(tokens, key=lambda t: mean(tokens[t], "linear_top1"))
        lines.append(f"3. *Lower TCAS goes with better accuracy; the label tokenizer is best*:"
                     f" {verdict(flag)} for the correlation (Spearman rho {rho:+.2f}, p = {p:.3f},"
                     f" n = {n} token rows; a negative rho is the claim); the best token row is"
                     f" {best_token}{' (as claimed)' if best_token == 'label' else ' (the claim says label)'}"
                     + kmeans_clause(rows) + ".")
    else:
        lines.append("3. *Lower TCAS goes with better accuracy*: fewer than 3 token rows have run.")
    result, text = trend(rows, "pixel")
    lines.append(f"4a. *For pixel K-means, larger K hurts*: {trend_verdict(result, -1)}: {text}.")
    result, text = trend(rows, "feature")
    lines.append(f"4b. *For feature K-means, larger K helps*: {trend_verdict(result, +1)}: {text}.")
    return lines


def kmeans_clause(rows):
    """Claim 3 among the K-means rows alone, where label and random tokens cannot carry rho."""
    corr = spearman(kmeans_rows(rows))
    if corr is None:
        return ""
    rho, p, n = corr
    flag = tcas_flag(rho, p)
    return (f"; among the K-means rows alone: rho {rho:+.2f}, p = {p:.3f}, n = {n}"
            f" ({'not significant' if flag is None else verdict(flag)})")


def machine_name(entry):
    m = entry["machine"]
    gpu = f" ({m['gpu']})" if m.get("gpu") else ""
    return f"{m['cpu']}, {m['cores']} cores, device {m['device']}{gpu}"


def machine_lines(rows):
    """One line when every row ran on one machine, else which rows each machine produced."""
    by_machine = {}
    for name, entries in rows.items():
        for e in entries:
            by_machine.setdefault(machine_name(e), set()).add(name)
    if len(by_machine) == 1:
        return [f"Machine: {next(iter(by_machine))}, every row."]
    return [f"Machine: {m}: {', '.join(sorted(names))}." for m, names in sorted(by_machine.items())]


def separation_lines(rows):
    """The seed spread of the two-seed rows, the yardstick for telling rows apart."""
    spreads = {n: half_range(e, "linear_top1") for n, e in rows.items() if len(e) > 1}
    spreads = {n: h for n, h in spreads.items() if h is not None}
    if not spreads:
        return ["Seed spread: no row has two seeds yet, so no row can be told apart from noise."]
    cells = ", ".join(f"{n} ±{100 * h:.1f}" for n, h in sorted(spreads.items()))
    typical = statistics.mean(spreads.values())
    ranked = sorted((mean(e, "linear_top1"), n) for n, e in rows.items()
                    if mean(e, "linear_top1") is not None)
    gaps = [100 * (b[0] - a[0]) for a, b in zip(ranked, ranked[1:])]
    apart = sum(g > 200 * typical for g in gaps)
    return [f"Seed spread of the linear probe (half the range of two seeds): {cells} points;"
            f" mean ±{100 * typical:.1f}. Of the {len(gaps)} gaps between rows adjacent in linear"
            f" accuracy, {apart} exceed twice that (a difference smaller than it is not read as one)."]


def spec7_lines(dataset, rows, epochs):
    """Rows of the grid beside SPEC section 7's Python reference at the same budget."""
    if dataset != "cifar10" or epochs != SPEC7_EPOCHS:
        return []
    lines = [f"### Against SPEC section 7's Python reference (CIFAR-10, {SPEC7_EPOCHS} epochs)", "",
             "| row | k-NN % here | k-NN % reference | linear % here | linear % reference |"
             " TCAS here | TCAS reference |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in sorted(set(SPEC7_ACCURACY) | set(SPEC7_TCAS)):
        if name not in rows:
            continue
        knn, linear = SPEC7_ACCURACY.get(name, (None, None))
        tcas = mean(rows[name], "tcas")
        ref_tcas = SPEC7_TCAS.get(name)
        lines.append(f"| {name} | {pct(rows[name], 'knn_top1')} | {'-' if knn is None else knn} |"
                     f" {pct(rows[name], 'linear_top1')} | {'-' if linear is None else linear} |"
                     f" {'-' if tcas is None else f'{tcas:.4f}'} |"
                     f" {'-' if ref_tcas is None else f'{ref_tcas:.3f}'} |")
    return lines + ["", "The reference is one seed of a different implementation; SPEC section 7"
                    " calls a result well below it at the same budget a bug.", ""]


def duration(seconds):
    """Hours from 1 h up, minutes below."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def section(dataset, rows, docs):
    """The k-NN / linear-probe grid of one dataset: budget, table, plots, claims."""
    corr = spearman(token_rows(rows))
    tcas_png, k_png = f"study-{dataset}-tcas-vs-linear.png", f"study-{dataset}-accuracy-vs-k.png"
    plot_tcas(rows, os.path.join(docs, tcas_png), corr)
    plot_k(rows, os.path.join(docs, k_png))
    entries = [e for es in rows.values() for e in es]
    epochs = entries[0]["epochs"]
    pretrain_s = sum(e.get("pretrain_s") or 0 for e in entries)
    eval_s = sum(e.get("eval_s") or 0 for e in entries)
    return [
        f"## {dataset}", "",
        f"Budget: {epochs} pretraining epochs per row; {duration(pretrain_s)} of pretraining steps"
        f" (summed over resumed invocations) and {duration(eval_s)} of evaluation in all (each row's"
        " last invocation; features cached by an interrupted one are loaded, not extracted again)."
        " Two seeds where the seeds column says 2 (mean ± half the range).", "",
        *machine_lines(rows), "",
        *table(rows), "",
        *separation_lines(rows), "",
        f"![TCAS against linear-probe accuracy]({tcas_png})", "",
        f"![Accuracy against K]({k_png})", "",
        "### The paper's claims against these numbers", "",
        *claims(rows, corr), "",
        *spec7_lines(dataset, rows, epochs),
    ]


def config_values(entries, *path):
    """The distinct values of config[path[0]][path[1]]... over `entries`, joined by ' or '."""
    values = set()
    for e in entries:
        value = e["config"]
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values.add(value)
    return " or ".join(str(v) for v in sorted(values, key=str))


def minutes(seconds):
    """Seconds as minutes, '-' when not measured."""
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def finetune_gains(rows, name):
    """{seed: points} by which row `name` fine-tunes above random-init at the same seed."""
    scratch = {e["seed"]: e["finetune_top1"] for e in rows.get("random-init", [])
               if isinstance(e.get("finetune_top1"), (int, float))}
    return {e["seed"]: 100 * (e["finetune_top1"] - scratch[e["seed"]]) for e in rows.get(name, [])
            if e["seed"] in scratch and isinstance(e.get("finetune_top1"), (int, float))}


def points(values):
    """Signed mean ± half-range of `values` (points), '-' when there are none."""
    if not values:
        return "-"
    m, h = statistics.mean(values), (max(values) - min(values)) / 2
    return f"{m:+.1f}" + (f" ± {h:.1f}" if len(values) > 1 else "")


def finetune_budget(rows):
    """The fine-tuning grid's budget: epochs, labelled images, batch, summed time, machine."""
    entries = [e for es in rows.values() for e in es]
    images = config_values(entries, "finetune", "train_images")
    labels = "all training images" if images in ("0", "None") else f"{images} training images"
    pretrain_epochs = config_values(entries, "pretrain", "epochs")
    finetune_epochs = config_values(entries, "eval", "finetune_epochs")
    batch = config_values(entries, "finetune", "batch_size")
    pretrain_min = sum(e.get("pretrain_s") or 0 for e in entries) / 60
    finetune_min = sum(e.get("finetune_s") or 0 for e in entries) / 60
    return [f"Budget: {pretrain_epochs} pretraining epochs on the whole training split without"
            f" labels, then {finetune_epochs} fine-tuning epochs on the labels of {labels} (batch"
            f" {batch}), scored on the test split after every epoch; {pretrain_min:.0f} min of"
            f" pretraining steps and {finetune_min:.0f} min of fine-tuning steps in all. Two seeds"
            " where the seeds column says 2 (mean ± half the range).", "", *machine_lines(rows)]


def finetune_table(rows):
    """One line per row of FINETUNE_ROWS that has run: probes, fine-tune top-1, gain, cost."""
    lines = ["| row | k-NN top-1 % | linear top-1 % | fine-tune top-1 % (best) |"
             " fine-tune top-1 % (last) | gain over scratch (points) | seeds | pretrain min |"
             " fine-tune min | command (seed 0) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name in (n for n in FINETUNE_ROWS if n in rows):
        entries = rows[name]
        first = min(entries, key=lambda e: e["seed"])
        gain = "-" if name == "random-init" else points(list(finetune_gains(rows, name).values()))
        lines.append(
            f"| {name} | {pct(entries, 'knn_top1')} | {pct(entries, 'linear_top1')} |"
            f" {pct(entries, 'finetune_top1')} | {pct(entries, 'finetune_top1_last')} | {gain} |"
            f" {len(entries)} | {minutes(mean(entries, 'pretrain_s'))} |"
            f" {minutes(mean(entries, 'finetune_s'))} | `{first['command']}` |")
    return lines


def finetune_claims(rows):
    """Claims 1 and 2 of SPEC section 6 judged by fine-tune top-1 instead of the linear probe."""
    pixel, pixel_text = compare(rows, "pixel-64", "mae", key="finetune_top1")
    feature, feature_text = compare(rows, "feature-64", "pixel-64", key="finetune_top1")
    return [f"1. *ClusterMIM Pixel beats MAE*: {verdict(pixel)}. Fine-tune top-1: {pixel_text}.",
            f"2. *Feature tokens (round 2, K-means on the pixel-64 encoder) beat pixel tokens*:"
            f" {verdict(feature)}. {feature_text}."]


def target_line(rows, name):
    """Whether row `name` fine-tunes FINETUNE_TARGET_POINTS above scratch on every seed."""
    gains = finetune_gains(rows, name)
    if not gains:
        return f"- {name}: not measured ({name} or random-init has not run)."
    cells = ", ".join(f"seed {seed} {g:+.1f}" for seed, g in sorted(gains.items()))
    # Top-1 is a count over the test images: round away float noise before comparing.
    met = all(round(g, 6) >= FINETUNE_TARGET_POINTS for g in gains.values())
    return f"- {name}: {cells} points: {'met' if met else 'not met'}."


def probe_line(rows):
    """How many rows fine-tune above their own linear probe (seed means): where fine-tuning does
    not pass the probe, the budget is too short for the recipe to converge."""
    names = [n for n in FINETUNE_ROWS if n in rows and mean(rows[n], "finetune_top1") is not None
             and mean(rows[n], "linear_top1") is not None]
    above = [n for n in names if mean(rows[n], "finetune_top1") > mean(rows[n], "linear_top1")]
    line = (f"Fine-tuning scores above the row's own linear probe in {len(above)} of {len(names)}"
            " rows.")
    if len(above) < len(names):
        line += (" Below it, fine-tuning has not converged at this budget (MAE's recipe is made for"
                 " 100 epochs): the grid compares the rows with one another, not with published"
                 " fine-tuning accuracies.")
    return [line]


def finetune_section(rows):
    """The fine-tuning grid: budget, table, claims under fine-tuning, the target and the cost."""
    records = {e["record"]: e.get("record_wall_s") or 0 for es in rows.values() for e in es}
    return [
        "## cifar10: fine-tuning", "",
        *finetune_budget(rows), "",
        *finetune_table(rows), "",
        *probe_line(rows), "",
        "### The paper's claims under fine-tuning", "",
        *finetune_claims(rows), "",
        "### Target: a ClusterMIM-pretrained encoder fine-tunes at least"
        f" {FINETUNE_TARGET_POINTS:.0f} points above the same network from scratch", "",
        "Gain of fine-tune top-1 (best epoch) over random-init at the same seed; met when every"
        f" seed's gain is at least {FINETUNE_TARGET_POINTS:.0f} points.", "",
        *(target_line(rows, name) for name in ("pixel-64", "feature-64")), "",
        "For scale, a cited number, not a result of this study: MAE's ViT-T on CIFAR-10 fine-tunes"
        " to 89.8 % after long pretraining against 74.1 % from scratch.", "",
        f"Cost: the {len(records)} records took {duration(sum(records.values()))} of wall time in"
        " all (each record's last invocation; the table gives each row's pretraining and"
        " fine-tuning minutes).", "",
    ]


def newest_date(grids):
    """The newest machine date over every record of `grids` ({grid: rows}), or None."""
    entries = [e for rows in grids.values() for es in rows.values() for e in es]
    dates = [e["machine"]["date"] for e in entries if e["machine"].get("date")]
    return max(dates) if dates else None


def load_grids(records):
    """{grid: rows} for every folder of DATASETS under `records` that holds a record."""
    grids = {}
    for grid in DATASETS:
        root = os.path.join(records, grid)
        rows = load_rows(root) if os.path.isdir(root) else {}
        if rows:
            grids[grid] = rows
    return grids


def main():
    """Writes --out from the records under --records, one section per grid that has records."""
    p = argparse.ArgumentParser()
    p.add_argument("--records", default="docs/study")
    p.add_argument("--out", default="docs/STUDY.md")
    args = p.parse_args()
    docs = os.path.dirname(args.out) or "."
    grids = load_grids(args.records)
    lines = ["# The study: does TCAS predict accuracy, and does ClusterMIM beat MAE?", "",
             "Generated by `scripts/study.sh --report` (scripts/study_report.py) from the"
             f" records in `{args.records}/` (each a finished row's report.json), made up to"
             f" {newest_date(grids) or 'no record yet'}; do not edit by hand."
             " Every row reruns with the command beside it;"
             f" `scripts/study.sh [{'|'.join(DATASETS)}]` runs the rows still missing.", ""]
    for grid, rows in grids.items():
        lines += finetune_section(rows) if grid == FINETUNE_GRID else section(grid, rows, docs)
    with open(args.out + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
