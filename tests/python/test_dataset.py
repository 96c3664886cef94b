"""clustermim.load_dataset: IDX and image-folder datasets written by the test come back as
numpy arrays equal to what was written, with class names, and a bad path raises ValueError."""
import numpy as np
import pytest

import clustermim


@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_dataset(idx_dataset, split):
    path, splits = idx_dataset
    images, labels, classes = clustermim.load_dataset(path, split, cache_dir="none")
    want_images, want_labels = splits[split]
    assert images.dtype == np.uint8 and images.shape == want_images.shape
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)
    assert classes == [str(d) for d in range(10)]
    assert images.flags.c_contiguous and images.flags.owndata is False  # the library's buffer


def test_image_folder_dataset(png_dataset):
    path, splits = png_dataset
    images, labels, classes = clustermim.load_dataset(path, "train", cache_dir="none")
    want_images, want_labels = splits["train"]
    assert classes == ["cat", "dog"]
    assert images.shape == (10, 12, 12, 3)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(images, want_images)


def test_image_folder_resized(png_dataset):
    path, _ = png_dataset
    images, labels, _ = clustermim.load_dataset(path, "test", image_size=8, cache_dir="none")
    assert images.shape == (6, 8, 8, 3) and labels.shape == (6,)


def test_missing_dataset_raises_value_error(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        clustermim.load_dataset(missing, "train", cache_dir="none")
