#!/usr/bin/env python3
"""docs/RESULTS.md from committed run records (never by hand), so any clone can regenerate it.

    scripts/results.py record RUN_DIR NAME [--records docs/results]
        writes docs/results/NAME.json: RUN_DIR's report.json (rows, command, config, machine,
        wall time) plus the data it ran on; and NAME-curves.png beside it when the run has one
    scripts/results.py render [--records docs/results] [--out docs/RESULTS.md] [--check]
        rewrites docs/RESULTS.md from every record (sorted by name); --check compares instead
        and exits 1 when the file differs from a fresh render

A record is the only input of a section, and the render holds nothing of the moment or the
machine it runs on (no render date, no absolute path), so rendering twice, or in a fresh clone,
gives the same bytes. Each section: the command that produced the run, data, model, budget,
machine, time (pretraining and fine-tuning step time summed over resumed invocations), the TCAS
of each tokenizer, k-NN / linear-probe / fine-tune top-1 of every method, bootstrapped rounds
with their teacher block sweep, what the numbers say of SPEC section 6's claims and what
pretraining bought over supervised from scratch (computed, never typed), and the training curves.
"""
import argparse
import json
import os
import sys

REQUIRED = ("command", "config", "data", "machine", "wall_s", "rows")


class RecordError(Exception):
    """A record (or run folder) that cannot be used; the message is one line naming the file."""


def need(record, path, *keys):
    """record[keys[0]][keys[1]]...; RecordError naming `path` and the dotted key when missing."""
    value = record
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise RecordError(f"{path}: missing key '{'.'.join(keys[:i + 1])}'")
        value = value[key]
    return value


def write_atomic(path, data):
    """Writes bytes or text to path through a temporary file and a rename."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def pct(row, key):
    value = row.get(key)
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "-"


def minutes(row, key):
    value = row.get(key)
    return f"{value / 60:.1f}" if isinstance(value, (int, float)) else "-"


def rate(row, key):
    value = row.get(key)
    return f"{value:.0f}" if isinstance(value, (int, float)) and value > 0 else "-"


def rounds_lines(record):
    lines = []
    for r in record.get("rounds", []):
        block = "after the final norm" if r["block"] < 0 else f"block {r['block']}"
        lines.append(f"- round {r['round']}: feature K-means on `{r['teacher']}`, {block} (rule:"
                     f" `tokenizer.bootstrap_block = {r['rule']}`), TCAS {r['tcas']:.4f}")
        if r.get("sweep"):
            cells = ", ".join(f"{'norm' if b['block'] < 0 else b['block']}: {b['tcas']:.4f}"
                              for b in r["sweep"])
            lines.append(f"  - sweep, TCAS on held-out training images by teacher block: {cells}")
    return lines + [""] if lines else []


def compare(a, b, key, label, b_name=None):
    """One sentence: row a against row b on `key`, in points."""
    if not all(isinstance(r.get(key), (int, float)) for r in (a, b)):
        return None
    diff = 100 * (a[key] - b[key])
    word = "above" if diff > 0 else "below" if diff < 0 else "level with"
    return (f"{a['method']} {label} {100 * a[key]:.1f} % is {abs(diff):.1f} points {word}"
            f" {b_name or b['method']} ({100 * b[key]:.1f} %)")


def findings_lines(rows):
    by = {r["method"]: r for r in rows}
    lines = []
    for method, other in [("clustermim", "mae"), ("clustermim", "random-init"), ("mae", "random-init")]:
        if method in by and other in by:
            for key, label in [("knn_top1", "k-NN"), ("linear_top1", "linear probe"),
                               ("finetune_top1", "fine-tune")]:
                name = "supervised from scratch" if key == "finetune_top1" and other == "random-init" else None
                sentence = compare(by[method], by[other], key, label, name)
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


def finetune_lines(record, path):
    """The fine-tuning recipe of the run and what pretraining bought, from the record's numbers."""
    rows = record["rows"]
    if not any("finetune_top1" in r for r in rows):
        return []
    f = need(record, path, "config", "finetune")
    epochs = next(r["finetune_epochs"] for r in rows if "finetune_top1" in r)
    lines = [f"Fine-tuning: every encoder trained whole with a classification head for {epochs}"
             f" epoch{'s' if epochs != 1 else ''} of the `finetune.*` recipe (batch {f['batch_size']}, blr {f['blr']}, layer"
             f" decay {f['layer_decay']}, drop path {f['drop_path']}, mixup {f['mixup']} / cutmix"
             f" {f['cutmix']}, RandAugment, erasing {f['erasing']}, {f['pooling']} pooling);"
             " random-init is the same network supervised from scratch with the same recipe."
             " Fine-tune top-1 is the best epoch's; the last epoch's is beside it.", ""]
    scratch = next((r for r in rows if r["method"] == "random-init" and "finetune_top1" in r), None)
    for r in rows:
        if r is scratch or "finetune_top1" not in r:
            continue
        if scratch is not None:
            diff = 100 * (r["finetune_top1"] - scratch["finetune_top1"])
            lines.append(f"- pretraining bought {r['method']} {diff:+.1f} points of fine-tune top-1"
                         f" over supervised from scratch ({pct(r, 'finetune_top1')} % against"
                         f" {pct(scratch, 'finetune_top1')} %), for {minutes(r, 'pretrain_s')} min"
                         f" of pretraining and {minutes(r, 'finetune_s')} min of fine-tuning"
                         f" ({minutes(scratch, 'finetune_s')} min from scratch).")
    for r in rows:
        if isinstance(r.get("linear_top1"), (int, float)) and r.get("finetune_top1", 1) < r["linear_top1"]:
            lines.append(f"- {r['method']}: fine-tune top-1 {pct(r, 'finetune_top1')} % is below its"
                         f" linear probe ({pct(r, 'linear_top1')} %): {epochs} of the 100 epochs"
                         " the recipe is made for (MAE, ViT-B) are too few here to set fine-tuning"
                         " beside the frozen protocols.")
    return lines + [""] if len(lines) > 2 else lines


def section(name, record, path, out_dir, records_dir):
    config, machine, data = (need(record, path, key) for key in ("config", "machine", "data"))
    pretrain = need(record, path, "config", "pretrain")
    finetuned = any("finetune_top1" in r for r in record["rows"])
    lines = [
        f"## {name}",
        "",
        f"- command: `{record['command']}`",
        f"- data: `{need(record, path, 'data', 'dataset')}` (pretrain and fit on"
        f" `{need(record, path, 'data', 'train_split')}`, evaluate on"
        f" `{need(record, path, 'data', 'eval_split')}`); corrupt samples skipped:"
        f" {data.get('skipped_samples', {}).get('train', 0)} train,"
        f" {data.get('skipped_samples', {}).get('eval', 0)} eval",
        f"- model: `{need(record, path, 'config', 'model', 'preset')}`, {pretrain['epochs']}"
        f" pretraining epochs, batch {pretrain['batch_size']}, blr {pretrain['blr']},"
        f" {'bf16' if pretrain['bf16'] else 'fp32'}",
        f"- machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, LibTorch"
        f" {machine.get('libtorch', '?')}, device {machine.get('device', '?')}"
        f"{' (' + machine['gpu'] + ')' if machine.get('gpu') else ''}, {machine.get('date', '?')}",
        f"- time: pretraining and fine-tuning = time in training steps summed over resumed"
        f" invocations; the last invocation of the command took {record['wall_s'] / 60:.1f} min",
        "",
    ]
    header = ("| method | tokenizer | K | TCAS | k-NN top-1 % | linear top-1 % | pretrain min | img/s |"
              " tokens img/s | eval min |")
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if finetuned:
        header += " fine-tune top-1 % | last % | fine-tune min |"
        rule += "---:|---:|---:|"
    lines += [header, rule]
    for r in record["rows"]:
        tcas = f"{r['tcas']:.4f}" if isinstance(r.get("tcas"), (int, float)) else "-"
        speed, tokens = rate(r, "pretrain_images_per_second"), rate(r, "tokenizer_images_per_second")
        method = r["method"]
        if method == "random-init" and "finetune_top1" in r:
            method += " (from scratch)"
        line = (f"| {method} | {r.get('tokenizer', '-')} | {r.get('vocab', '-')} | {tcas} |"
                f" {pct(r, 'knn_top1')} | {pct(r, 'linear_top1')} | {minutes(r, 'pretrain_s')} |"
                f" {speed} | {tokens} | {minutes(r, 'eval_s')} |")
        if finetuned:
            line += (f" {pct(r, 'finetune_top1')} | {pct(r, 'finetune_top1_last')} |"
                     f" {minutes(r, 'finetune_s')} |")
        lines.append(line)
    lines += ["", "img/s: pretraining images per second of training step (tokenizer included);"
              " tokens img/s: the tokenizer alone (for feature tokens, the teacher's forward pass);"
              " eval min: k-NN and linear probe in the last invocation (features cached by an"
              " earlier one are loaded, not extracted again).", ""]
    lines += finetune_lines(record, path) + rounds_lines(record) + findings_lines(record["rows"])
    curves = os.path.join(records_dir, name + "-curves.png")
    if os.path.exists(curves):
        rel = os.path.relpath(curves, out_dir).replace(os.sep, "/")
        lines += [f"![training curves of {name}]({rel})", ""]
    return lines


def load_record(path, shown):
    """The record at `path` (named `shown` in errors), with every key a section needs."""
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        raise RecordError(f"{shown}: cannot read a JSON record ({e.__class__.__name__})")
    path = shown
    for key in REQUIRED:
        need(record, path, key)
    if not isinstance(record["rows"], list) or not all("method" in r for r in record["rows"]):
        raise RecordError(f"{path}: 'rows' must be a list of rows with a 'method'")
    return record


def render(records_dir, out):
    """The text of RESULTS.md from every record in records_dir (sorted by name)."""
    out_dir = os.path.dirname(os.path.abspath(out))
    rel = os.path.relpath(os.path.abspath(records_dir), out_dir).replace(os.sep, "/")
    if not os.path.isdir(records_dir):
        raise RecordError(f"{records_dir}: no such folder of records")
    names = sorted(f[:-5] for f in os.listdir(records_dir) if f.endswith(".json"))
    lines = ["# Results", "",
             f"Generated by `scripts/results.py render` from the committed run records in `{rel}/`"
             " (one per run, each written by `scripts/results.py record RUN_DIR NAME`); do not"
             " edit by hand. The CIFAR-10 section of earlier versions came from a run folder"
             " (runs/cifar10, 2026-11-27) that was never committed, so it cannot be regenerated"
             " and is gone; the study's committed records are in docs/study/ (docs/STUDY.md).",
             ""]
    for name in names:
        shown = f"{rel}/{name}.json"
        lines += section(name, load_record(os.path.join(records_dir, name + ".json"), shown),
                         shown, out_dir, records_dir)
    return "\n".join(lines)


def record(run_dir, name, records_dir):
    """Writes records_dir/name.json from run_dir/report.json (and name-curves.png)."""
    if not name or os.sep in name or name.startswith("."):
        raise RecordError(f"record: '{name}' is not a plain file name")
    report_path = os.path.join(run_dir, "report.json")
    report = load_record_source(report_path)
    config = report["config"]
    data = dict(config["data"])
    data["skipped_samples"] = report.get("skipped_samples", {"train": 0, "eval": 0})
    out = dict(report, data=data)
    os.makedirs(records_dir, exist_ok=True)
    path = os.path.join(records_dir, name + ".json")
    write_atomic(path, json.dumps(out, indent=1, sort_keys=True) + "\n")
    curves = os.path.join(run_dir, "curves.png")
    if os.path.exists(curves):
        with open(curves, "rb") as f:
            write_atomic(os.path.join(records_dir, name + "-curves.png"), f.read())
    return path


def load_record_source(path):
    """A run's report.json, with the keys a record needs (data comes from its config)."""
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise RecordError(f"{path}: cannot read the run's report ({e.__class__.__name__})")
    for key in ("command", "config", "machine", "wall_s", "rows"):
        need(report, path, key)
    for key in ("dataset", "train_split", "eval_split"):
        need(report, path, "config", "data", key)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="write docs/results/NAME.json from a run folder")
    rec.add_argument("run_dir")
    rec.add_argument("name")
    rec.add_argument("--records", default="docs/results")
    ren = sub.add_parser("render", help="rewrite docs/RESULTS.md from every record")
    ren.add_argument("--records", default="docs/results")
    ren.add_argument("--out", default="docs/RESULTS.md")
    ren.add_argument("--check", action="store_true",
                     help="compare with --out instead of writing; exit 1 when it differs")
    args = p.parse_args()
    try:
        if args.command == "record":
            print(record(args.run_dir, args.name, args.records))
            return 0
        text = render(args.records, args.out)
        if args.check:
            with open(args.out) if os.path.exists(args.out) else open(os.devnull) as f:
                if f.read() != text:
                    print(f"error: {args.out} differs from a render of {args.records}/ (run"
                          f" scripts/results.py render)", file=sys.stderr)
                    return 1
            return 0
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_atomic(args.out, text)
        return 0
    except RecordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
