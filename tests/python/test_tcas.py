"""clustermim.tcas and clustermim.compare_tcas: agreement with a numpy implementation of SPEC
section 2 and with the CLI's `tcas --tokens`, the bootstrap interval, dtypes and layouts, and the
errors bad input raises."""
import json
import subprocess
import sys

import numpy as np
import pytest

import clustermim
from conftest import assert_rows_close, reference_tcas, run_cli

ROW_KEYS = {"tcas", "alpha", "chance", "vocab", "k_used", "perplexity", "collision", "nmi",
            "left_out_mass", "patches", "tcas_ci_low", "tcas_ci_high", "bootstrap_rounds",
            "per_class"}


def random_tokens(n, length, vocab, classes, seed):
    """Tokens that lean towards their image's class (so TCAS is neither 0 nor 1), and labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n).astype(np.int32)
    tokens = rng.integers(0, vocab, size=(n, length))
    aligned = rng.random((n, length)) < 0.5
    tokens = np.where(aligned, (labels[:, None] * 7 + rng.integers(0, 3, (n, length))) % vocab,
                      tokens).astype(np.int32)
    return tokens, labels


@pytest.mark.parametrize("n, length, vocab, classes, seed", [
    (200, 16, 50, 10, 0),
    (50, 4, 1000, 3, 1),   # mostly singleton tokens: left_out_mass > 0
    (300, 1, 20, 5, 2),    # a single patch per image
    (10, 64, 3, 2, 3),
])
def test_matches_numpy_reference(n, length, vocab, classes, seed):
    tokens, labels = random_tokens(n, length, vocab, classes, seed)
    row = clustermim.tcas(tokens, labels, vocab=vocab)
    assert set(row) == ROW_KEYS
    assert_rows_close(row, reference_tcas(tokens, labels, vocab, int(labels.max()) + 1))
    assert row["tcas_ci_low"] is None and row["tcas_ci_high"] is None
    assert row["bootstrap_rounds"] == 0
    assert sum(r["error_contribution"] for r in row["per_class"]) == pytest.approx(row["alpha"])


def test_degenerate_one_class():
    tokens, _ = random_tokens(30, 8, 10, 1, 4)
    labels = np.zeros(30, dtype=np.int32)
    row = clustermim.tcas(tokens, labels)
    assert row["chance"] == 0 and row["tcas"] == 0 and row["alpha"] == 0
    assert_rows_close(row, reference_tcas(tokens, labels))


def test_degenerate_one_token():
    labels = np.arange(20, dtype=np.int32) % 4
    tokens = np.zeros((20, 5), dtype=np.int32)
    row = clustermim.tcas(tokens, labels)
    assert row["k_used"] == 1 and row["perplexity"] == pytest.approx(1.0)
    assert row["tcas"] == pytest.approx(20 * 5 / (20 * 5 - 1))  # unbiased Gini of one token
    assert row["nmi"] == 0.0
    assert_rows_close(row, reference_tcas(tokens, labels))


def test_degenerate_one_class_one_token():
    row = clustermim.tcas(np.zeros((3, 2), np.int32), np.zeros(3, np.int32))
    assert row["nmi"] == 1.0 and row["tcas"] == 0.0


def test_label_tokenizer_scores_zero_and_random_about_one():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, size=2000).astype(np.int32)
    label_tokens = np.repeat(labels[:, None], 4, axis=1)
    assert clustermim.tcas(label_tokens, labels)["tcas"] == 0.0
    random = rng.integers(0, 16, size=(2000, 4))
    assert clustermim.tcas(random, labels)["tcas"] == pytest.approx(1.0, abs=0.02)


def test_per_patch_labels():
    tokens, _ = random_tokens(40, 6, 12, 3, 6)
    patch_labels = np.random.default_rng(7).integers(0, 3, size=(40, 6)).astype(np.int32)
    row = clustermim.tcas(tokens, patch_labels)
    assert_rows_close(row, reference_tcas(tokens, patch_labels))
    # Per-patch labels equal to the image's label on every patch give the per-image result.
    image_labels = patch_labels[:, 0]
    same = clustermim.tcas(tokens, np.repeat(image_labels[:, None], 6, axis=1))
    assert_rows_close(same, clustermim.tcas(tokens, image_labels))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64, np.uint8, np.uint16, np.uint32,
                                   np.uint64, ">i4", ">i8"])
def test_every_integer_dtype_gives_the_int32_result(dtype):
    tokens, labels = random_tokens(60, 5, 100, 4, 8)
    expected = clustermim.tcas(tokens, labels)
    assert clustermim.tcas(tokens.astype(dtype), labels.astype(dtype)) == expected


def test_non_contiguous_and_list_inputs():
    tokens, labels = random_tokens(60, 10, 40, 4, 9)
    strided = tokens[:, ::2]
    assert not strided.flags.c_contiguous
    assert clustermim.tcas(strided, labels) == clustermim.tcas(strided.copy(), labels)
    fortran = np.asfortranarray(tokens)
    assert clustermim.tcas(fortran, labels) == clustermim.tcas(tokens, labels)
    assert clustermim.tcas(tokens.tolist(), labels.tolist()) == clustermim.tcas(tokens, labels)


def test_int32_tokens_are_not_copied():
    """A C-contiguous int32 array is read in place: scoring 400 MB of tokens adds far less than
    400 MB to the peak memory of the process (a converted copy would add all of it)."""
    code = """
import resource, numpy as np, clustermim
n, length = 1_000_000, 100
tokens = np.arange(n * length, dtype=np.int32).reshape(n, length)
tokens %= 1000
labels = (np.arange(n, dtype=np.int32) % 10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
clustermim.tcas(tokens, labels)
grown_int32 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown_int32 // 1024)
"""
    grown_mb = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout)
    assert grown_mb < 100, f"tcas of int32 tokens grew the peak memory by {grown_mb} MB"


def test_bootstrap_interval():
    tokens, labels = random_tokens(300, 8, 30, 5, 10)
    row = clustermim.tcas(tokens, labels, bootstrap=200, seed=3)
    assert row["bootstrap_rounds"] == 200
    assert row["tcas_ci_low"] < row["tcas"] < row["tcas_ci_high"]
    assert row["tcas_ci_high"] - row["tcas_ci_low"] < 0.2
    assert clustermim.tcas(tokens, labels, bootstrap=200, seed=3) == row
    other = clustermim.tcas(tokens, labels, bootstrap=200, seed=4)
    assert other["tcas_ci_low"] != row["tcas_ci_low"]
    assert other["tcas"] == row["tcas"]
    narrow = clustermim.tcas(tokens, labels, bootstrap=200, seed=3, level=0.5)
    assert row["tcas_ci_low"] < narrow["tcas_ci_low"] < narrow["tcas_ci_high"] < row["tcas_ci_high"]


def test_compare_tcas():
    tokens_a, labels = random_tokens(200, 8, 30, 5, 11)
    tokens_b = np.random.default_rng(12).integers(0, 30, size=(200, 4))
    result = clustermim.compare_tcas(tokens_a, tokens_b, labels, bootstrap=300, seed=1)
    assert result["tcas_a"] == clustermim.tcas(tokens_a, labels)["tcas"]
    assert result["tcas_b"] == clustermim.tcas(tokens_b, labels)["tcas"]
    assert result["difference"] == pytest.approx(result["tcas_a"] - result["tcas_b"], abs=1e-12)
    assert result["difference_ci_low"] < result["difference"] < result["difference_ci_high"] < 0
    assert result["p_value"] < 0.01 and result["bootstrap_rounds"] == 300
    same = clustermim.compare_tcas(tokens_a, tokens_a, labels, bootstrap=50)
    assert same["difference"] == 0 and same["difference_ci_low"] == same["difference_ci_high"] == 0
    plain = clustermim.compare_tcas(tokens_a, tokens_b, labels, bootstrap=0)
    assert plain["p_value"] is None and plain["difference_ci_low"] is None


@pytest.mark.parametrize("tokens, labels, kwargs, message", [
    (np.zeros((4, 3), np.float32), np.zeros(4, np.int32), {}, "tcas: tokens: dtype float32 is not an integer type"),
    (np.zeros((4, 3), np.int32), np.zeros(4, np.float64), {}, "tcas: labels: dtype float64 is not an integer type"),
    (np.zeros((4, 3), bool), np.zeros(4, np.int32), {}, "tcas: tokens: dtype bool is not an integer type"),
    (np.zeros(4, np.int32), np.zeros(4, np.int32), {}, "tcas: tokens must be [N, L] (images x patches), got [4]"),
    (np.zeros((4, 3, 2), np.int32), np.zeros(4, np.int32), {}, "tcas: tokens must be [N, L] (images x patches), got [4, 3, 2]"),
    (np.zeros((4, 3), np.int32), np.zeros((4, 3, 1), np.int32), {}, "tcas: labels must be [N] (per image) or [N, L] (per patch), got [4, 3, 1]"),
    (np.zeros((4, 3), np.int32), np.zeros(5, np.int32), {}, "tcas: 5 labels for 4 images (tokens [4, 3])"),
    (np.zeros((4, 3), np.int32), np.zeros((4, 2), np.int32), {}, "tcas: per-patch labels [4, 2] do not match tokens [4, 3]"),
    (np.array([[0, -1, 2]]), np.zeros(1, np.int32), {}, "tcas: token id -1 at image 0 patch 1 is outside [0, 3)"),
    (np.array([[0, 1, 7]]), np.zeros(1, np.int32), {"vocab": 5}, "tcas: token id 7 at image 0 patch 2 is outside [0, 5)"),
    (np.array([[0, 1]]), np.array([-2]), {}, "tcas: label -2 at position 0 is outside [0, 1)"),
    (np.array([[0, 2**40]]), np.zeros(1, np.int32), {}, "tcas: tokens: value 1099511627776 at flat index 1 does not fit in int32"),
    (np.array([[0, 1]], np.uint64) * 2**63, np.zeros(1, np.int32), {}, "does not fit in int32"),
    (np.zeros((0, 3), np.int32), np.zeros(0, np.int32), {}, "tcas: tokens must be [N, L] with N, L >= 1, got [0, 3]"),
    (np.zeros((2, 3), np.int32), np.zeros(2, np.int32), {"vocab": 0}, "tcas: vocab must be >= 1, got 0"),
    (np.zeros((2, 3), np.int32), np.zeros(2, np.int32), {"bootstrap": -1}, "bootstrap: rounds must be >= 0, got -1"),
    ("abc", np.zeros(2, np.int32), {}, "tcas: tokens: dtype <U3 is not an integer type"),
])
def test_bad_input_raises_value_error(tokens, labels, kwargs, message):
    with pytest.raises(ValueError) as error:
        clustermim.tcas(tokens, labels, **kwargs)
    assert message in str(error.value)


def test_compare_tcas_errors():
    tokens, labels = random_tokens(20, 4, 10, 3, 13)
    with pytest.raises(ValueError, match=r"compare_tcas: tokens_a: 10 labels for 20 images"):
        clustermim.compare_tcas(tokens, tokens[:10], labels[:10], bootstrap=10)
    with pytest.raises(ValueError, match=r"compare_tcas: labels must be \[N\] \(per image\)"):
        clustermim.compare_tcas(tokens, tokens, np.zeros((20, 4), np.int32))


# ---- the same numbers as the CLI -----------------------------------------------------------------


def cli_rows(cli, path, *options):
    out = path.parent / (path.stem + ".json")
    done = run_cli(cli, "tcas", "--tokens", path, "--json", out, *options)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())["rows"]


@pytest.mark.parametrize("bootstrap", [0, 100])
def test_equals_cli_on_the_same_token_file(cli, tmp_path, bootstrap):
    tokens, labels = random_tokens(120, 9, 40, 6, 14)
    path = tmp_path / "tokens.npz"
    np.savez(path, tokens=tokens.astype(np.int16), labels=labels.astype(np.int64))
    (row,) = cli_rows(cli, path, "--bootstrap", bootstrap, "--bootstrap-seed", 5)
    mine = clustermim.tcas(tokens, labels, bootstrap=bootstrap, seed=5)
    assert ROW_KEYS <= set(row)
    assert_rows_close(mine, row, rtol=0, atol=1e-12, keys=ROW_KEYS)
    if bootstrap:
        assert mine["tcas_ci_low"] is not None


def test_equals_cli_with_vocab_and_per_patch_labels(cli, tmp_path):
    tokens, _ = random_tokens(50, 4, 20, 3, 15)
    patch_labels = np.random.default_rng(16).integers(0, 3, size=(50, 4)).astype(np.int32)
    np.save(tmp_path / "tokens.npy", tokens)
    np.save(tmp_path / "labels.npy", patch_labels)
    (row,) = cli_rows(cli, tmp_path / "tokens.npy", "--labels", tmp_path / "labels.npy",
                      "--vocab", 64, "--bootstrap", 0)
    mine = clustermim.tcas(tokens, patch_labels, vocab=64)
    assert mine["vocab"] == 64
    assert_rows_close(mine, row, rtol=0, atol=1e-12, keys=ROW_KEYS)


def test_error_message_is_the_clis(cli, tmp_path):
    tokens = np.array([[0, 3, 1, 2]], dtype=np.int32)
    np.savez(tmp_path / "bad.npz", tokens=tokens, labels=np.zeros(1, np.int32))
    done = run_cli(cli, "tcas", "--tokens", tmp_path / "bad.npz", "--vocab", 3, "--bootstrap", 0)
    assert done.returncode != 0
    with pytest.raises(ValueError) as error:
        clustermim.tcas(tokens, np.zeros(1, np.int32), vocab=3)
    problem = str(error.value).split(": ", 1)[1]  # after the "tcas: " prefix (the CLI's: the file)
    assert problem == "token id 3 at image 0 patch 1 is outside [0, 3)"
    assert problem in done.stderr
