"""Runs one tests/python file with pytest for CTest; exit 77 (CTest: skipped) without pytest or
numpy, which the Python module's tests need (Debian: python3-pytest, python3-numpy)."""
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as missing:
    print(f"skipped: {missing}")
    sys.exit(77)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
