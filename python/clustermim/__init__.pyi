"""Type stubs of clustermim (the extension modules _core and _torch behind the package)."""
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

IdArray = npt.ArrayLike
"""Integer token ids or class labels: any integer dtype; C-contiguous int32 is read in place."""

def tcas(
    tokens: IdArray,
    labels: IdArray,
    vocab: Optional[int] = None,
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
) -> Dict[str, Any]:
    """TCAS of tokens [N, L] against labels [N] (or [N, L]); lower is better.

    Returns the CLI's JSON row: tcas, alpha, chance, vocab, k_used, perplexity, collision, nmi,
    left_out_mass, patches, tcas_ci_low, tcas_ci_high (None without bootstrap),
    bootstrap_rounds, per_class. Raises ValueError for bad dtypes, shapes or ids.
    """

def compare_tcas(
    tokens_a: IdArray,
    tokens_b: IdArray,
    labels: IdArray,
    vocab_a: Optional[int] = None,
    vocab_b: Optional[int] = None,
    bootstrap: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Dict[str, Any]:
    """Paired bootstrap comparison of two tokenizations of the same images (labels [N]).

    Returns tcas_a, tcas_b, difference (a - b), difference_ci_low, difference_ci_high,
    bootstrap_rounds, p_value.
    """

def load_dataset(
    spec: str, split: str = "train", image_size: int = 0, cache_dir: str = ""
) -> Tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32], List[str]]:
    """(images uint8 [N, H, W, C], labels int32 [N], class names) of a dataset split."""

class Tokenizer:
    """A frozen tokenizer: images -> one token id per patch (loads LibTorch on first use)."""

    @staticmethod
    def load(path: str) -> "Tokenizer":
        """Loads a .cmtk tokenizer file."""
    def save(self, path: str) -> None:
        """Writes the tokenizer to a .cmtk file, readable by the CLI."""
    def encode(
        self,
        images: npt.NDArray[np.uint8],
        labels: Optional[IdArray] = None,
        batch_size: int = 256,
        workers: int = 2,
        device: str = "cpu",
    ) -> npt.NDArray[np.int32]:
        """Token ids int32 [N, L] of uint8 images [N, S, S, C], as the CLI's `tokens encode`."""
    @property
    def kind(self) -> str:
        """"pixel-kmeans", "feature-kmeans", "label" or "random"."""
    @property
    def vocab(self) -> int:
        """K: token ids are in [0, vocab)."""
    @property
    def patch_size(self) -> int:
        """p: one token per p x p patch."""
    @property
    def image_size(self) -> int:
        """S: the tokenizer reads S x S images."""
    @property
    def num_patches(self) -> int:
        """L = (S / p)^2 tokens per image."""

def fit_pixel_kmeans(
    images: npt.NDArray[np.uint8],
    vocab: int = 64,
    patch_size: int = 4,
    max_patches: int = 200000,
    iterations: int = 30,
    seed: int = 0,
    normalize_patches: bool = False,
    workers: int = 2,
    device: str = "cpu",
) -> Tokenizer:
    """Fits ClusterMIM's pixel K-means tokenizer on uint8 images [N, S, S, C]."""
