"""The package layout: `import clustermim` and `clustermim.tcas` leave LibTorch unloaded, the
torch-backed names load it on first use, and the stubs name every public function."""
import ast
import subprocess
import sys
from pathlib import Path

import clustermim

PROBE = """
import sys
def loaded(library):
    with open("/proc/self/maps") as maps:
        return library in maps.read()
import numpy as np
import clustermim
row = clustermim.tcas(np.zeros((2, 3), np.int32), np.array([0, 1]))
print("tcas", loaded("libtorch"), loaded("libopencv"))
clustermim.load_dataset
print("load_dataset", loaded("libtorch"), loaded("libopencv"))
clustermim.Tokenizer
print("Tokenizer", loaded("libtorch"))
"""


def test_libraries_load_on_first_use():
    """tcas loads neither LibTorch nor OpenCV; load_dataset OpenCV only; Tokenizer LibTorch."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["tcas False False", "load_dataset False True", "Tokenizer True"]


def test_lazy_names():
    assert "Tokenizer" in dir(clustermim) and "fit_pixel_kmeans" in dir(clustermim)
    public = {name for name in dir(clustermim) if not name.startswith("_")}
    assert public == set(clustermim.__all__), "no helper module leaks into the public names"
    assert set(clustermim.__all__) == {"tcas", "compare_tcas", "load_dataset", "Tokenizer",
                                       "fit_pixel_kmeans"}
    try:
        clustermim.no_such_name
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("clustermim.no_such_name did not raise AttributeError")


def test_stubs_and_docstrings_cover_the_public_names():
    stub = Path(clustermim.__file__).with_name("__init__.pyi")
    assert Path(clustermim.__file__).with_name("py.typed").exists()
    tree = ast.parse(stub.read_text())
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert set(clustermim.__all__) <= defined
    for name in clustermim.__all__:
        assert getattr(clustermim, name).__doc__, f"{name} has no docstring"
