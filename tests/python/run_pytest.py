"""Runs one tests/python file with pytest for CTest; exit 77 (CTest: skipped) without pytest or
numpy, which the Python module's tests need (Debian: python3-pytest, python3-numpy), and when the
file skips itself whole (pytest.importorskip of an optional reference such as torch), which
pytest reports as "no tests collected"."""
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as missing:
    print(f"skipped: {missing}")
    sys.exit(77)

code = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]])
sys.exit(77 if code == pytest.ExitCode.NO_TESTS_COLLECTED else code)
