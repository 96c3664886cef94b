"""clustermim.Tokenizer and clustermim.fit_pixel_kmeans: fitting, encoding, saving and loading
from Python, the same tokens as the CLI's `tokens encode` on the same data, and bad images."""
import numpy as np
import pytest

import clustermim
from conftest import class_images, run_cli


@pytest.fixture(scope="module")
def fitted():
    images, labels = class_images(64, 8, 3, 4, seed=21)
    tokenizer = clustermim.fit_pixel_kmeans(images, vocab=8, patch_size=4, iterations=5, seed=1)
    return tokenizer, images, labels


def test_fit_and_encode(fitted):
    tokenizer, images, labels = fitted
    assert (tokenizer.kind, tokenizer.vocab, tokenizer.patch_size) == ("pixel-kmeans", 8, 4)
    assert (tokenizer.image_size, tokenizer.num_patches) == (8, 4)
    assert "pixel-kmeans" in repr(tokenizer)
    tokens = tokenizer.encode(images)
    assert tokens.dtype == np.int32 and tokens.shape == (64, 4)
    assert tokens.min() >= 0 and tokens.max() < 8
    assert len(np.unique(tokens)) > 1
    # Brightness follows the class, so the pixel tokens are far better than chance.
    assert clustermim.tcas(tokens, labels)["tcas"] < 0.5
    np.testing.assert_array_equal(tokenizer.encode(images, batch_size=5, workers=1), tokens)


def test_grayscale_images_are_repeated_to_three_channels(fitted):
    tokenizer, images, _ = fitted
    gray = images[..., :1]
    np.testing.assert_array_equal(tokenizer.encode(gray),
                                  tokenizer.encode(np.repeat(gray, 3, axis=3)))


def test_save_load_round_trip(fitted, tmp_path):
    tokenizer, images, _ = fitted
    path = str(tmp_path / "pixel.cmtk")
    tokenizer.save(path)
    loaded = clustermim.Tokenizer.load(path)
    assert (loaded.kind, loaded.vocab, loaded.patch_size, loaded.image_size) == (
        tokenizer.kind, tokenizer.vocab, tokenizer.patch_size, tokenizer.image_size)
    np.testing.assert_array_equal(loaded.encode(images), tokenizer.encode(images))


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 8, 8, 3), np.float32), "encode: images have dtype float32, expected uint8 [N, H, W, C]"),
    (np.zeros((8, 8, 3), np.uint8), "encode: images must be [N, H, W, C], got 3 dimensions"),
    (np.zeros((2, 8, 8, 2), np.uint8), "encode: images have 2 channels, expected 1 or 3"),
    (np.zeros((2, 8, 6, 3), np.uint8), "encode: images are 8x6, expected square images"),
    (np.zeros((2, 12, 12, 3), np.uint8), "encode: images are 12x12 but the pixel-kmeans tokenizer was fitted on 8x8"),
    (np.zeros((0, 8, 8, 3), np.uint8), "encode: no images"),
])
def test_bad_images_raise_value_error(fitted, images, message):
    tokenizer, _, _ = fitted
    with pytest.raises(ValueError) as error:
        tokenizer.encode(images)
    assert message in str(error.value)


def test_bad_fit_arguments_raise_value_error():
    images, _ = class_images(8, 8, 3, 2, seed=22)
    with pytest.raises(ValueError, match="patch_size 3 does not divide the image size 8"):
        clustermim.fit_pixel_kmeans(images, vocab=4, patch_size=3)
    with pytest.raises(ValueError, match="vocab must be >= 1"):
        clustermim.fit_pixel_kmeans(images, vocab=0)


def test_missing_tokenizer_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="missing.cmtk"):
        clustermim.Tokenizer.load(str(tmp_path / "missing.cmtk"))


def test_encode_equals_cli_tokens_encode(cli, tmp_path, idx_dataset):
    """The CLI fits a tokenizer and encodes a split; Python loads both files and agrees."""
    path, _ = idx_dataset
    tokenizer_file = tmp_path / "pixel.cmtk"
    done = run_cli(cli, "tokenizer", "fit", "--data", path, "--kind", "pixel-kmeans:6",
                   "--patch-size", 4, "--iterations", 5, "-o", tokenizer_file,
                   "--cache-dir", "none")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "tokens.npz"
    done = run_cli(cli, "tokens", "encode", "--tokenizer", tokenizer_file, "--data", path,
                   "--split", "test", "-o", out, "--cache-dir", "none")
    assert done.returncode == 0, done.stderr
    with np.load(out) as saved:
        cli_tokens, cli_labels = saved["tokens"], saved["labels"]
    images, labels, _ = clustermim.load_dataset(path, "test", cache_dir="none")
    tokenizer = clustermim.Tokenizer.load(str(tokenizer_file))
    np.testing.assert_array_equal(tokenizer.encode(images, labels), cli_tokens)
    np.testing.assert_array_equal(labels, cli_labels)
