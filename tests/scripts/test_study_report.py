#!/usr/bin/env python3
"""scripts/study_report.py on hand-built study records: the table (round 2 of pixel-64 becomes the
feature-64 row, seeds are averaged), Spearman's rho of TCAS with accuracy, the claim verdicts, the
seed-spread yardstick and the SPEC section 7 comparison. Exits 77 (CTest: skipped) when the
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


class StudyReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        records = os.path.join(cls.tmp.name, "records")
        build_tree(records)
        cls.out = os.path.join(cls.tmp.name, "docs", "STUDY.md")
        os.makedirs(os.path.dirname(cls.out))
        subprocess.run([sys.executable, SCRIPT, "--records", records, "--out", cls.out], check=True,
                       stdout=subprocess.DEVNULL)
        with open(cls.out) as f:
            cls.text = f.read()

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


if __name__ == "__main__":
    if not all(importlib.util.find_spec(m) for m in ("matplotlib", "scipy")):
        print("skipped: matplotlib and scipy are not installed (scripts/setup.sh --bench)")
        sys.exit(77)
    unittest.main()
