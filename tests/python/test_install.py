"""The documented install command works offline: a virtual environment with Debian's packages
(--system-site-packages) gets clustermim from build/python by pip without build isolation."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import clustermim

PACKAGE_ROOT = Path(clustermim.__file__).resolve().parent.parent


def test_pip_install_into_a_venv(tmp_path):
    if not (PACKAGE_ROOT / "pyproject.toml").exists():
        pytest.skip(f"{PACKAGE_ROOT} is not a build folder with pyproject.toml")
    # A copy, so that pip's in-tree build leaves the build folder as it was.
    source = tmp_path / "source"
    shutil.copytree(PACKAGE_ROOT, source, ignore=shutil.ignore_patterns(
        "CMakeFiles", "*.cmake", "Makefile", "build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"python3 -m venv failed (Debian: python3-venv): {made.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_NO_INDEX"] = "1"  # prove that no package index is needed
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-deps", str(source)],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    probe = ("import numpy as np, clustermim; print(clustermim.__file__); "
             "print(clustermim.tcas(np.array([[0, 1], [1, 1]]), np.array([0, 1]))['tcas'])")
    run = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True,
                         text=True, env=env, cwd=tmp_path, check=True)
    where, value = run.stdout.split()
    assert where.startswith(str(venv)) and float(value) == 1.0
    shutil.rmtree(source)  # the installed copy must not depend on the source folder
    again = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import clustermim; print(clustermim.Tokenizer.__name__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.strip() == "Tokenizer", again.stderr
