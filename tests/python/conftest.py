"""Fixtures of the Python module's tests: the CLI binary, small datasets written on the spot
(IDX files and a PNG image-folder tree), and TCAS computed independently with numpy from SPEC
section 2, the reference `clustermim.tcas` must agree with."""
import gzip
import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest


# ---- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def cli():
    """Path of the clustermim binary (CTest sets CLUSTERMIM_BIN); skips without one."""
    path = os.environ.get("CLUSTERMIM_BIN", "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("CLUSTERMIM_BIN is not set to the clustermim binary")
    return path


def run_cli(cli, *args):
    """Runs the CLI quietly; returns the completed process (check it yourself)."""
    return subprocess.run([cli, *map(str, args), "--log-level", "warn"], capture_output=True,
                          text=True)


# ---- datasets written by the tests ------------------------------------------------------------


def class_images(n, size, channels, classes, seed):
    """uint8 [n, size, size, channels] images whose brightness and texture depend on their class
    (so that a pixel tokenizer finds some class structure), and their int labels [n]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    base = (labels[:, None, None, None] * 255 // max(classes - 1, 1)).astype(np.int32)
    noise = rng.integers(-40, 41, size=(n, size, size, channels))
    images = np.clip(base + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int32)


def write_idx(folder, split, images, labels, compress=True):
    """Writes one split as MNIST IDX files (images [N, H, W] uint8, labels [N] < 10)."""
    prefix = "train" if split == "train" else "t10k"
    n, rows, cols = images.shape
    image_bytes = struct.pack(">IIII", 0x803, n, rows, cols) + images.tobytes()
    label_bytes = struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes()
    for name, payload in ((f"{prefix}-images-idx3-ubyte", image_bytes),
                          (f"{prefix}-labels-idx1-ubyte", label_bytes)):
        if compress:
            Path(folder, name + ".gz").write_bytes(gzip.compress(payload))
        else:
            Path(folder, name).write_bytes(payload)


@pytest.fixture
def idx_dataset(tmp_path):
    """An MNIST-like IDX folder (train 40, test 24 images of 8x8, 4 classes): (path, splits)."""
    folder = tmp_path / "idx"
    folder.mkdir()
    splits = {}
    for split, n, seed in (("train", 40, 1), ("test", 24, 2)):
        images, labels = class_images(n, 8, 1, 4, seed)
        write_idx(folder, split, images[..., 0], labels)
        splits[split] = (images, labels)
    return str(folder), splits


def png_bytes(image):
    """A minimal 8-bit RGB PNG of a uint8 [H, W, 3] image (no filtering)."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


@pytest.fixture
def png_dataset(tmp_path):
    """An image-folder tree root/{train,test}/<class>/*.png (RGB 12x12, classes "cat", "dog"):
    (path, {split: (images [N, 12, 12, 3] in class-name then file-name order, labels)})."""
    root = tmp_path / "folder"
    splits = {}
    for split, n, seed in (("train", 10, 3), ("test", 6, 4)):
        images, labels = class_images(n, 12, 3, 2, seed)
        order = np.lexsort((np.arange(n), labels))
        for i in order:
            folder = root / split / ("cat", "dog")[labels[i]]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"img{i:03d}.png").write_bytes(png_bytes(images[i]))
        splits[split] = (images[order], labels[order])
    return str(root), splits


# ---- TCAS from SPEC section 2, written independently of the library ---------------------------


def reference_tcas(tokens, labels, vocab=None, classes=None):
    """Every statistic of the CLI's JSON row (but the interval), from the contingency table of
    SPEC section 2, in float64 numpy. Labels [N] are broadcast to every patch."""
    tokens = np.asarray(tokens, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim == 1:
        labels = np.repeat(labels[:, None], tokens.shape[1], axis=1)
    vocab = int(tokens.max()) + 1 if vocab is None else vocab
    classes = int(labels.max()) + 1 if classes is None else classes
    n = np.zeros((vocab, classes), dtype=np.int64)
    np.add.at(n, (tokens.ravel(), labels.ravel()), 1)
    total = n.sum()
    n_k = n.sum(axis=1).astype(np.float64)
    n_c = n.sum(axis=0).astype(np.float64)
    nf = n.astype(np.float64)

    shared = n_k >= 2  # tokens with a pair of patches
    purity = (nf[shared] * (nf[shared] - 1)).sum(axis=1) / (n_k[shared] * (n_k[shared] - 1))
    alpha = float(((n_k[shared] / total) * (1 - purity)).sum())
    chance = float(1 - ((n_c / total) ** 2).sum())
    contribution = (nf[shared] * (n_k[shared, None] - nf[shared]) /
                    (total * (n_k[shared, None] - 1))).sum(axis=0)

    p_k = n_k[n_k > 0] / total
    h_k = float(-(p_k * np.log(p_k)).sum())
    p_c = n_c[n_c > 0] / total
    h_c = float(-(p_c * np.log(p_c)).sum())
    joint = nf > 0
    mi = float((nf[joint] / total * np.log(total * nf[joint] /
                                           np.outer(n_k, n_c)[joint])).sum())
    mi = max(mi, 0.0)
    if (n_k > 0).sum() == 1 and (n_c > 0).sum() == 1:
        nmi = 1.0  # sklearn: two constant labelings match perfectly
    elif mi == 0:
        nmi = 0.0
    else:
        nmi = mi / ((h_k + h_c) / 2)

    same_token = (nf * (nf - 1)).sum(axis=0)  # per class: pairs of a class sharing a token
    class_pairs = n_c * (n_c - 1)
    per_class = [{
        "class": c,
        "patches": int(n_c[c]),
        "error_contribution": float(contribution[c]),
        "error_rate": float(contribution[c] * total / n_c[c]) if n_c[c] > 0 else 0.0,
        "collision": float(same_token[c] / class_pairs[c]) if n_c[c] >= 2 else 0.0,
    } for c in range(classes)]
    return {
        "tcas": alpha / chance if chance > 0 else 0.0,
        "alpha": alpha,
        "chance": max(chance, 0.0),
        "vocab": vocab,
        "k_used": int((n_k > 0).sum()),
        "perplexity": float(np.exp(h_k)),
        "collision": float(same_token.sum() / class_pairs.sum()) if class_pairs.sum() > 0 else 0.0,
        "nmi": nmi,
        "left_out_mass": float((n_k == 1).sum() / total),
        "patches": int(total),
        "per_class": per_class,
    }


def assert_rows_close(actual, expected, rtol=1e-9, atol=1e-12, keys=None):
    """Every key of `expected` (or `keys`) equal in `actual`: ints exactly, floats to rtol/atol,
    per_class row by row."""
    for key in keys or expected:
        want, got = expected[key], actual[key]
        if key == "per_class":
            assert len(got) == len(want)
            for row_got, row_want in zip(got, want):
                assert_rows_close(row_got, row_want, rtol, atol)
        elif want is None or isinstance(want, (int, str)) and not isinstance(want, bool):
            assert got == want, f"{key}: {got} != {want}"
        else:
            assert got == pytest.approx(want, rel=rtol, abs=atol), f"{key}: {got} != {want}"
