"""clustermim: TCAS (Token-Class Alignment Similarity) of any tokenizer, from numpy token ids.

TCAS scores a tokenizer for masked image modeling by how often two patches that share a token
come from different classes, normalized by chance: 0 for tokens that follow the classes exactly,
about 1 for tokens that carry no class information; lower is better (docs/TCAS.md).

    import clustermim
    row = clustermim.tcas(tokens, labels, bootstrap=200)   # tokens int [N, L], labels int [N]
    print(row["tcas"], row["tcas_ci_low"], row["tcas_ci_high"])

`tcas` and `compare_tcas` come from the extension `_core`, which links no image library and no
LibTorch: importing clustermim and scoring tokens takes milliseconds. The other names load their
extension on first use (PEP 562 module __getattr__): `load_dataset` from `_data` (the dataset
readers, with OpenCV), `Tokenizer` and `fit_pixel_kmeans` from `_torch` (LibTorch).
"""
import importlib as _importlib

from ._core import compare_tcas, tcas

__version__ = "0.1.0"

# Names served by the extensions loaded on first access: name -> module.
_LAZY = {"load_dataset": "_data", "Tokenizer": "_torch", "fit_pixel_kmeans": "_torch"}

__all__ = ["tcas", "compare_tcas", *_LAZY]


def __getattr__(name):
    """Imports the extension behind `name` (and so OpenCV or LibTorch) the first time it is used."""
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clustermim' has no attribute {name!r}")


def __dir__():
    """Lists the lazily loaded names too, so that completion offers them."""
    return sorted(set(globals()) | set(_LAZY))
