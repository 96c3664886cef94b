#!/usr/bin/env python3
"""docs/PERFORMANCE.md is the render of the committed benchmark records in docs/bench/ (and the GPU
check's files in docs/gpu/): any clone regenerates it byte for byte, and a changed record is seen."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "render_performance.py")


def check(records):
    return subprocess.run([sys.executable, SCRIPT, "--check", "--bench-out", records],
                          cwd=ROOT, capture_output=True, text=True)


class PerformanceRecordsTest(unittest.TestCase):
    def test_the_committed_document_is_the_render_of_the_committed_records(self):
        result = check("docs/bench")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_changed_record_is_not_the_committed_document(self):
        with tempfile.TemporaryDirectory() as tmp:
            records = os.path.join(tmp, "bench")
            shutil.copytree(os.path.join(ROOT, "docs", "bench"), records)
            self.assertEqual(check(records).returncode, 0)  # a copy renders the same
            with open(os.path.join(records, "run.json")) as f:
                text = f.read()
            with open(os.path.join(records, "run.json"), "w") as f:
                f.write(text.replace('"cores": ', '"cores": 1'))
            result = check(records)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("not the render of", result.stderr)


if __name__ == "__main__":
    unittest.main()
