#!/usr/bin/env python3
"""scripts/results.py: `record` turns a run folder into a committed record, `render` writes
RESULTS.md from the records with the same bytes every time and nothing of the machine it runs on
(no absolute path), fine-tune columns and the from-scratch gain are computed from the rows, a
record missing a key is a one-line error, and the committed docs/RESULTS.md is exactly a render
of the committed docs/results/ records (what a fresh clone regenerates). Standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "results.py")


def report(finetune=True):
    """A report.json as `clustermim run` writes it (mae, random-init; fine-tuned or not)."""
    rows = [dict(method="mae", tokenizer="normalized pixels", knn_top1=0.70, linear_top1=0.75,
                 pretrain_s=120.0, eval_s=30.0, pretrain_images_per_second=1000.0),
            dict(method="random-init", knn_top1=0.60, linear_top1=0.65, eval_s=30.0)]
    if finetune:
        for r, top1 in zip(rows, (0.84, 0.80)):
            r.update(finetune_epochs=2, finetune_top1=top1, finetune_top1_last=top1 - 0.01,
                     finetune_s=90.0)
    config = {"data": {"dataset": "fashion-mnist", "train_split": "train", "eval_split": "test"},
              "model": {"preset": "vit-tiny-28"},
              "pretrain": {"epochs": 2, "batch_size": 256, "blr": 1.5e-4, "bf16": True},
              "finetune": {"batch_size": 256, "blr": 5e-4, "layer_decay": 0.75, "drop_path": 0.1,
                           "mixup": 0.8, "cutmix": 1.0, "erasing": 0.25, "pooling": "avg"}}
    return {"rows": rows, "config": config, "command": "clustermim run configs/demo.toml",
            "machine": {"cpu": "Test CPU", "cores": 2, "libtorch": "1.13.0", "device": "cpu",
                        "date": "2026-01-01 00:00 UTC"},
            "skipped_samples": {"train": 0, "eval": 0}, "wall_s": 600.0, "rounds": []}


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class ResultsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.records = os.path.join(self.root, "docs", "results")
        self.out = os.path.join(self.root, "docs", "RESULTS.md")
        for name, finetune in (("a-fine-tuned", True), ("b-frozen", False)):
            run_dir = os.path.join(self.root, "runs", name)
            os.makedirs(run_dir)
            with open(os.path.join(run_dir, "report.json"), "w") as f:
                json.dump(report(finetune), f)
            if finetune:
                with open(os.path.join(run_dir, "curves.png"), "wb") as f:
                    f.write(b"\x89PNG fake")
            r = run("record", run_dir, name, "--records", self.records)
            self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        self.tmp.cleanup()

    def render(self):
        r = run("render", "--records", self.records, "--out", self.out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out, "rb") as f:
            return f.read()

    def test_record_keeps_the_report_and_adds_the_data(self):
        with open(os.path.join(self.records, "a-fine-tuned.json")) as f:
            record = json.load(f)
        self.assertEqual(record["data"]["dataset"], "fashion-mnist")
        self.assertEqual(record["data"]["skipped_samples"], {"train": 0, "eval": 0})
        self.assertEqual(record["rows"], report()["rows"])
        self.assertTrue(os.path.exists(os.path.join(self.records, "a-fine-tuned-curves.png")))
        self.assertFalse(any(f.endswith(".tmp") for f in os.listdir(self.records)))

    def test_render_twice_same_bytes_and_no_absolute_path(self):
        first = self.render()
        self.assertEqual(first, self.render())
        text = first.decode()
        self.assertNotIn(self.root, text)
        self.assertIn("![training curves of a-fine-tuned](results/a-fine-tuned-curves.png)", text)
        self.assertIn("`results/`", text)
        r = run("render", "--records", self.records, "--out", self.out, "--check")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_finetune_columns_and_gain_are_computed(self):
        text = self.render().decode()
        fine, frozen = text.split("## b-frozen")
        self.assertIn("| fine-tune top-1 % | last % | fine-tune min |", fine)
        self.assertIn("| random-init (from scratch) |", fine)
        self.assertIn("pretraining bought mae +4.0 points of fine-tune top-1 over supervised from"
                      " scratch (84.0 % against 80.0 %)", fine)
        self.assertIn("mae fine-tune 84.0 % is 4.0 points above supervised from scratch", fine)
        self.assertNotIn("fine-tune", frozen)

    def test_missing_key_is_one_line_error(self):
        path = os.path.join(self.records, "b-frozen.json")
        with open(path) as f:
            record = json.load(f)
        del record["machine"]
        with open(path, "w") as f:
            json.dump(record, f)
        r = run("render", "--records", self.records, "--out", self.out)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "error: results/b-frozen.json: missing key 'machine'\n")
        self.assertFalse(os.path.exists(self.out))
        r = run("record", os.path.join(self.root, "nowhere"), "x", "--records", self.records)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("nowhere/report.json: cannot read the run's report", r.stderr)

    def test_check_fails_on_a_stale_file(self):
        self.render()
        with open(self.out, "a") as f:
            f.write("hand edit\n")
        r = run("render", "--records", self.records, "--out", self.out, "--check")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)

    def test_committed_results_are_a_render_of_the_committed_records(self):
        r = subprocess.run([sys.executable, SCRIPT, "render", "--check"], cwd=ROOT,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
