#!/usr/bin/env python3
"""scripts/study.sh's driver with a stand-in for the clustermim binary: finished rows leave their
committed record (docs/study/<dataset>/<row>.json), rows with a record are not run again on a
fresh machine and --list prints their recorded command, pixel-64 runs again only when a feature row still needs its checkpoint as teacher
(also when that row is picked with --only),
--jobs N runs rows side by side yet starts the feature rows after their teacher, and a failed
row makes the script exit non-zero.
"""
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
STUDY = os.path.join(HERE, "..", "..", "scripts", "study.sh")
CONFIG = os.path.join(HERE, "..", "..", "configs", "study-fashion-mnist.toml")

# The stand-in: logs its --out and --set words, fails for rows named in FAIL_ROW, writes the files
# the driver reads (report.json; pixel-64's round 2 also a checkpoint and its chosen block).
FAKE = textwrap.dedent("""\
    #!/bin/bash
    out="" sets=""
    while (($#)); do
      case "$1" in --out) out=$2; shift ;; --set) sets="$sets $2"; shift ;; esac
      shift
    done
    echo "$(basename "$out")$sets" >> "$CALLS"
    [[ $(basename "$out") == "${FAIL_ROW:-}" ]] && exit 3
    sleep 0.2
    mkdir -p "$out/clustermim"
    if [[ $sets == *run.rounds=2* ]]; then
      touch "$out/clustermim/ckpt-000000010.cmck"
      echo '{"block": 3}' > "$out/clustermim-r2-block.json"
    fi
    printf '{"command": "clustermim run --out %s", "rows": [{"method": "clustermim", "linear_top1": 0.5}]}' \
      "$out" > "$out/report.json"
""")


class StudyDriverTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = self.tmp.name
        os.makedirs(os.path.join(root, "scripts"))
        os.makedirs(os.path.join(root, "configs"))
        shutil.copy(STUDY, os.path.join(root, "scripts", "study.sh"))
        shutil.copy(CONFIG, os.path.join(root, "configs"))
        fake = os.path.join(root, "fake-clustermim")
        with open(fake, "w") as f:
            f.write(FAKE)
        os.chmod(fake, 0o755)
        self.calls = os.path.join(root, "calls.txt")
        self.env = dict(os.environ, CLUSTERMIM=fake, CALLS=self.calls)
        self.records = os.path.join(root, "docs", "study", "fashion-mnist")

    def tearDown(self):
        self.tmp.cleanup()

    def study(self, *args, **env):
        open(self.calls, "w").close()
        result = subprocess.run(["bash", os.path.join(self.tmp.name, "scripts", "study.sh"),
                                 "fashion-mnist", *args], env=dict(self.env, **env),
                                capture_output=True, text=True)
        with open(self.calls) as f:
            calls = [line.split() for line in f]
        return result, calls

    def forget_runs(self):
        """A fresh machine: the run folders are gone, the committed records are not."""
        shutil.rmtree(os.path.join(self.tmp.name, "runs"))

    def test_parallel_rows_leave_records_and_wait_for_their_teacher(self):
        result, calls = self.study("--jobs", "4")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        names = [c[0] for c in calls]
        self.assertEqual(len(names), 12)
        self.assertEqual(sorted(os.listdir(self.records)), sorted(n + ".json" for n in names))
        self.assertLess(names.index("pixel-64"), names.index("feature-256"))
        self.assertEqual(names[-1], "feature-best-s1")
        feature = next(c for c in calls if c[0] == "feature-256")
        self.assertIn("tokenizer.teacher_block=3", feature)
        with open(os.path.join(self.records, "mae.json")) as f:
            self.assertEqual(json.load(f)["rows"][0]["method"], "clustermim")

    def test_records_outlive_the_runs(self):
        self.study("--jobs", "2")
        self.forget_runs()
        result, calls = self.study()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(calls, [])
        listing = self.study("--list")[0].stdout.splitlines()
        self.assertEqual(len(listing), 12)
        self.assertIn("feature-256      done: clustermim run --out runs/study/fashion-mnist/feature-256",
                      listing)

    def test_missing_feature_row_reruns_its_teacher(self):
        self.study("--jobs", "2")
        self.forget_runs()
        os.remove(os.path.join(self.records, "feature-256.json"))
        result, calls = self.study()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual([c[0] for c in calls], ["pixel-64", "feature-256"])
        self.forget_runs()
        os.remove(os.path.join(self.records, "feature-256.json"))
        result, calls = self.study("--only", "feature-256")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual([c[0] for c in calls], ["pixel-64", "feature-256"])
        result, calls = self.study("--only", "mae")
        self.assertEqual((result.returncode, calls), (0, []))

    def test_failed_row_fails_the_study(self):
        result, calls = self.study("--jobs", "3", FAIL_ROW="label")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("label failed", result.stdout)
        self.assertIn("not done: label", result.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.records, "label.json")))
        self.assertIn("feature-best-s1", [c[0] for c in calls])


if __name__ == "__main__":
    unittest.main()
