#!/usr/bin/env python3
"""scripts/study_report.py on hand-built study records: the table (round 2 of pixel-64 becomes the
feature-64 row, seeds are averaged), Spearman's rho of TCAS with accuracy, the claim verdicts, the
seed-spread yardstick and the SPEC section 7 comparison; the fine-tuning grid's section (fine-tune
top-1, the gain over scratch per seed, the claims under fine-tuning, the 3-point target) and a
header dated by the newest record, so that the same records give the same bytes. Exits 77 (CTest: skipped) when the
report's plotting and statistics libraries are not installed (scripts/setup.sh --bench).
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "study_report.py")
MACHINE = {"cpu": "Test CPU", "cores": 2, "device": "cpu", "date": "2026-01-01 00:00 UTC"}


def row(method, linear, tcas=None, tokenizer="pixel-kmeans", vocab=64):
    """A report.json row; baselines (tcas None) carry no TCAS and no vocabulary, as the CLI writes."""
    r = dict(method=method, linear_top1=linear, knn_top1=linear - 0.05, pretrain_s=600.0,
             eval_s=60.0, tokenizer=tokenizer)
    if tcas is not None:
        r.update(tcas=tcas, vocab=vocab)
    return r


def write_report(root, name, rows, epochs=8, machine=MACHINE):
    os.makedirs(root, exist_ok=True)
    report = {"command": f"clustermim run configs/study-cifar10.toml --out runs/study/cifar10/{name}",
              "config": {"pretrain": {"epochs": epochs}}, "machine": machine, "rows": rows}
    with open(os.path.join(root, f"{name}.json"), "w") as f:
        json.dump(report, f)


def build_tree(records):
    root = os.path.join(records, "cifar10")
    # Token rows: linear accuracy falls as TCAS rises (rho = -1 over 6 token rows).
    write_report(root, "pixel-64", [row("clustermim", 0.55, 0.970),
                                    row("clustermim-r2", 0.53, 0.980, "feature-kmeans")])
    write_report(root, "pixel-64-s1", [row("clustermim", 0.53, 0.972)])
    write_report(root, "pixel-16", [row("clustermim", 0.50, 0.982, vocab=16)])
    write_report(root, "pixel-256", [row("clustermim", 0.56, 0.964, vocab=256)])
    write_report(root, "label", [row("clustermim", 0.60, 0.0, "label", 10)])
    write_report(root, "random", [row("clustermim", 0.45, 1.0, "random")])
    write_report(root, "mae", [row("mae", 0.50, tokenizer="pixels")])
    write_report(root, "mae-s1", [row("mae", 0.49, tokenizer="pixels")])
    write_report(root, "random-init", [row("random-init", 0.46, tokenizer="-")])


FINETUNE_CONFIG = {"pretrain": {"epochs": 2}, "eval": {"finetune_epochs": 3},
                   "finetune": {"train_images": 5000, "batch_size": 64},
                   "data": {"dataset": "../shared/datasets/cifar10-jpg.tar.gz"}}
NEWEST = "2026-02-03 04:05 UTC"


def finetune_row(method, knn, linear, top1, pretrain_s=600.0):
    """A report.json row of the fine-tuning grid (random-init: no pretraining time)."""
    r = dict(method=method, knn_top1=knn, linear_top1=linear, finetune_top1=top1,
             finetune_top1_last=top1 - 0.02, finetune_s=120.0, finetune_epochs=3, eval_s=60.0)
    if pretrain_s is not None:
        r["pretrain_s"] = pretrain_s
    return r


def write_finetune_report(root, name, rows, machine=MACHINE):
    """A record of the fine-tuning grid: every report shares its config and 1000 s of wall time."""
    os.makedirs(root, exist_ok=True)
    report = {"command": f"clustermim run configs/study-cifar10-finetune.toml --out {name}",
              "config": FINETUNE_CONFIG, "machine": machine, "rows": rows, "wall_s": 1000.0}
    with open(os.path.join(root, f"{name}.json"), "w") as f:
        json.dump(report, f)


def build_finetune_tree(records, pixel_s1_top1=0.64):
    """Two seeds of pixel-64 (both rounds), MAE and random-init. Fine-tune top-1: pixel-64 .60 /
    `pixel_s1_top1`, feature-64 .63 / .65, mae .55 / .53, random-init .50 / .52."""
    root = os.path.join(records, "cifar10-finetune")
    write_finetune_report(root, "pixel-64", [finetune_row("clustermim", 0.40, 0.45, 0.60),
                                             finetune_row("clustermim-r2", 0.42, 0.47, 0.63)])
    write_finetune_report(root, "pixel-64-s1", [finetune_row("clustermim", 0.41, 0.46, pixel_s1_top1),
                                                finetune_row("clustermim-r2", 0.42, 0.47, 0.65)])
    write_finetune_report(root, "mae", [finetune_row("mae", 0.44, 0.50, 0.55)])
    write_finetune_report(root, "mae-s1", [finetune_row("mae", 0.44, 0.51, 0.53)],
                          dict(MACHINE, date=NEWEST))
    write_finetune_report(root, "random-init", [finetune_row("random-init", 0.30, 0.35, 0.50, None)])
    write_finetune_report(root, "random-init-s1",
                          [finetune_row("random-init", 0.30, 0.35, 0.52, None)])


def render(records, out):
    """The report the script writes for `records` at `out`."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run([sys.executable, SCRIPT, "--records", records, "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out) as f:
        return f.read()


class StudyReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        records = os.path.join(cls.tmp.name, "records")
        build_tree(records)
        build_finetune_tree(records)
        cls.records = records
        cls.out = os.path.join(cls.tmp.name, "docs", "STUDY.md")
        cls.text = render(records, cls.out)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_table_averages_seeds_and_names_round_two(self):
        self.assertIn("| pixel-64 | pixel-kmeans | 64 | 0.9710 | 49.0 ± 1.0 | 54.0 ± 1.0 | 2 |",
                      self.text)
        self.assertIn("| feature-64 | feature-kmeans | 64 | 0.9800 | 48.0 | 53.0 | 1 |", self.text)
        self.assertIn("| mae | pixels | - | - | 44.5 ± 0.5 | 49.5 ± 0.5 | 2 |", self.text)

    def test_spearman_and_claims(self):
        # Six token rows in exactly reversed order: exact p = 2 / 6! (scipy's t approximation: 0).
        self.assertIn("supported for the correlation (Spearman rho -1.00, p = 0.003, n = 6", self.text)
        self.assertIn("the best token row is label (as claimed); among the K-means rows alone:"
                      " rho -1.00, p = 0.083, n = 4 (not significant).", self.text)
        # Three pixel K in increasing accuracy: exact p = 2 / 3! = 0.333, so no verdict.
        self.assertIn("4a. *For pixel K-means, larger K hurts*: not decided (the direction"
                      " disagrees, not significant)", self.text)
        # pixel-64 54.0 vs mae 49.5: 4.5 points, seed noise 1.0 + 0.5.
        self.assertIn("1. *ClusterMIM Pixel beats MAE at the same budget*: supported", self.text)
        self.assertIn("beats ClusterMIM Pixel* (here the teacher is our own pixel-64 encoder,"
                      " not DINO): not decided", self.text)

    def test_seed_spread_yardstick(self):
        self.assertIn("Seed spread of the linear probe (half the range of two seeds): mae ±0.5,"
                      " pixel-64 ±1.0 points; mean ±0.8. Of the 7 gaps between rows adjacent in"
                      " linear accuracy, 4 exceed twice that", self.text)

    def test_machine_budget_and_spec7(self):
        self.assertIn("Machine: Test CPU, 2 cores, device cpu, every row.", self.text)
        self.assertIn("1.7 h of pretraining steps (summed over resumed invocations) and 10 min of"
                      " evaluation", self.text)
        self.assertIn("| pixel-64 | 49.0 ± 1.0 | 45.0 | 54.0 ± 1.0 | 51.2 | 0.9710 | 0.972 |",
                      self.text)
        self.assertIn("| random-init | 41.0 | 34.4 | 46.0 | 46.0 | - | - |", self.text)
        for png in ("study-cifar10-tcas-vs-linear.png", "study-cifar10-accuracy-vs-k.png"):
            self.assertTrue(os.path.getsize(os.path.join(os.path.dirname(self.out), png)) > 0)

    def test_machine_names_the_gpu(self):
        spec = importlib.util.spec_from_file_location("study_report", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        gpu = dict(MACHINE, device="cuda", gpu="NVIDIA H200")
        self.assertEqual(module.machine_name({"machine": gpu}),
                         "Test CPU, 2 cores, device cuda (NVIDIA H200)")


    def test_header_dated_by_newest_record_and_reproducible(self):
        self.assertIn(f"report.json), made up to {NEWEST}; do not edit by hand.", self.text)
        self.assertIn("`scripts/study.sh [cifar10|cifar10-finetune|fashion-mnist]`", self.text)
        again = render(self.records, os.path.join(self.tmp.name, "again", "STUDY.md"))
        self.assertEqual(again, self.text)

    def test_finetune_section_follows_cifar10(self):
        self.assertLess(self.text.index("## cifar10\n"), self.text.index("## cifar10: fine-tuning\n"))
        self.assertIn("Budget: 2 pretraining epochs on the whole training split without labels, then"
                      " 3 fine-tuning epochs on the labels of 5000 training images (batch 64), scored"
                      " on the test split after every epoch; 60 min of pretraining steps and 16 min"
                      " of fine-tuning steps in all.", self.text)

    def test_finetune_table(self):
        ft = self.text[self.text.index("## cifar10: fine-tuning"):]
        command = "`clustermim run configs/study-cifar10-finetune.toml --out"
        self.assertIn("| pixel-64 | 40.5 ± 0.5 | 45.5 ± 0.5 | 62.0 ± 2.0 | 60.0 ± 2.0 | +11.0 ± 1.0"
                      f" | 2 | 10.0 | 2.0 | {command} pixel-64` |", ft)
        self.assertIn("| feature-64 | 42.0 ± 0.0 | 47.0 ± 0.0 | 64.0 ± 1.0 | 62.0 ± 1.0 | +13.0 ± 0.0 | 2 |", ft)
        self.assertIn("| mae | 44.0 ± 0.0 | 50.5 ± 0.5 | 54.0 ± 1.0 | 52.0 ± 1.0 | +3.0 ± 2.0 | 2 |", ft)
        self.assertIn(f"| random-init | 30.0 ± 0.0 | 35.0 ± 0.0 | 51.0 ± 1.0 | 49.0 ± 1.0 | - | 2 | - | 2.0 |"
                      f" {command} random-init` |", ft)
        rows = [line.split(" | ")[0] for line in ft.splitlines() if line.startswith("| ")][1:]
        self.assertEqual(rows, ["| pixel-64", "| feature-64", "| mae", "| random-init"])
        self.assertIn("Fine-tuning scores above the row's own linear probe in 4 of 4 rows.\n", ft)

    def test_finetune_claims(self):
        # The linear probe would contradict claim 1 (45.5 vs 50.5); fine-tuning supports it.
        self.assertIn("1. *ClusterMIM Pixel beats MAE*: supported. Fine-tune top-1: pixel-64 62.0 %"
                      " vs mae 54.0 % (+8.0 points; seed noise ±3.0).", self.text)
        self.assertIn("pixel tokens*: not decided. feature-64 64.0 % vs pixel-64 62.0 % (+2.0"
                      " points; seed noise ±3.0): within seed noise.", self.text)

    def test_finetune_target_and_cost(self):
        self.assertIn("- pixel-64: seed 0 +10.0, seed 1 +12.0 points: met.", self.text)
        self.assertIn("- feature-64: seed 0 +13.0, seed 1 +13.0 points: met.", self.text)
        self.assertIn("89.8 % after long pretraining against 74.1 % from scratch", self.text)
        self.assertIn("Cost: the 6 records took 1.7 h of wall time in all", self.text)

    def test_finetune_target_not_met_when_one_seed_falls_short(self):
        records = os.path.join(self.tmp.name, "short")
        build_finetune_tree(records, pixel_s1_top1=0.54)
        text = render(records, os.path.join(self.tmp.name, "short-docs", "STUDY.md"))
        self.assertIn("- pixel-64: seed 0 +10.0, seed 1 +2.0 points: not met.", text)
        self.assertIn("- feature-64: seed 0 +13.0, seed 1 +13.0 points: met.", text)
        self.assertNotIn("## cifar10\n", text)

    def test_finetune_gain_only_where_scratch_ran_at_that_seed(self):
        records = os.path.join(self.tmp.name, "one-scratch")
        build_finetune_tree(records)
        os.remove(os.path.join(records, "cifar10-finetune", "random-init-s1.json"))
        text = render(records, os.path.join(self.tmp.name, "one-scratch-docs", "STUDY.md"))
        self.assertIn("| pixel-64 | 40.5 ± 0.5 | 45.5 ± 0.5 | 62.0 ± 2.0 | 60.0 ± 2.0 | +10.0 | 2 |", text)
        self.assertIn("- pixel-64: seed 0 +10.0 points: met.", text)

    def test_no_finetune_section_without_records(self):
        records = os.path.join(self.tmp.name, "empty")
        build_tree(records)
        os.makedirs(os.path.join(records, "cifar10-finetune"))
        text = render(records, os.path.join(self.tmp.name, "empty-docs", "STUDY.md"))
        self.assertIn("## cifar10\n", text)
        self.assertNotIn("fine-tuning", text)

    def test_committed_study_is_the_render_of_the_committed_records(self):
        out = os.path.join(self.tmp.name, "committed-docs", "STUDY.md")
        os.makedirs(os.path.dirname(out))
        subprocess.run([sys.executable, SCRIPT, "--records", "docs/study", "--out", out],
                       check=True, stdout=subprocess.DEVNULL, cwd=os.path.join(HERE, "..", ".."))
        with open(out) as f, open(os.path.join(HERE, "..", "..", "docs", "STUDY.md")) as g:
            self.assertEqual(g.read(), f.read(), "docs/STUDY.md is not the render of"
                             " docs/study/: run scripts/study.sh --report")


if __name__ == "__main__":
    if not all(importlib.util.find_spec(m) for m in ("matplotlib", "scipy")):
        print("skipped: matplotlib and scipy are not installed (scripts/setup.sh --bench)")
        sys.exit(77)
    unittest.main()
