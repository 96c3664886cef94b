#!/usr/bin/env python3
"""TCAS of a tokenizer written in plain PyTorch, beside clustermim's pixel K-means, on CIFAR-10.

What a tokenizer designer does with clustermim: tokenize labeled images with their own tokenizer
(here: K-means on the features of a random convolution, one token per 4 x 4 patch, all in plain
PyTorch), hand the token ids to `clustermim.tcas`, and read the score with its 95 % bootstrap
interval next to a reference tokenizer. Lower TCAS is better (0: tokens follow the classes,
about 1: tokens carry no class information; docs/TCAS.md). A paired comparison on the same images
says whether the difference between the two is real.

    PYTHONPATH=build/python /usr/bin/python3 examples/tcas_of_my_tokenizer.py [DATASET]

DATASET: a CIFAR-10 image-folder archive or folder (default ../shared/datasets/cifar10-jpg.tar.gz),
or any dataset spec clustermim.load_dataset reads. Needs numpy and torch (Debian: python3-numpy,
python3-torch). About a minute on 2 CPU cores (the first run also decodes the dataset once).
"""
import argparse
import os
import time

import numpy as np
import torch

import clustermim


class RandomConvKMeans:
    """A tokenizer in plain PyTorch: a random (untrained) convolution with one output per p x p
    patch, per-feature standardization, then the nearest of K centroids fitted by K-means."""

    def __init__(self, vocab, patch_size, channels=64, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, channels, kernel_size=patch_size, stride=patch_size)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.zero_()
        self.vocab, self.generator = vocab, generator
        self.mean = self.std = self.centroids = None

    @torch.no_grad()
    def features(self, images):
        """uint8 [N, H, W, 3] -> [N * L, D] patch features, patches in row-major order."""
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        f = torch.relu(self.conv(x))                     # [N, D, H/p, W/p]
        f = f.flatten(2).transpose(1, 2).reshape(-1, f.shape[1])
        if self.mean is None:
            self.mean, self.std = f.mean(0), f.std(0) + 1e-6
        return (f - self.mean) / self.std

    @torch.no_grad()
    def fit(self, images, iterations=15, max_points=100_000):
        f = self.features(images)
        pick = torch.randperm(f.shape[0], generator=self.generator)[:max_points]
        f = f[pick]
        c = f[torch.randperm(f.shape[0], generator=self.generator)[:self.vocab]].clone()
        for _ in range(iterations):  # Lloyd's algorithm
            assign = torch.cdist(f, c).argmin(1)
            sums = torch.zeros_like(c).index_add_(0, assign, f)
            counts = torch.bincount(assign, minlength=self.vocab).unsqueeze(1)
            c = torch.where(counts > 0, sums / counts.clamp(min=1), c)
        self.centroids = c
        return self

    @torch.no_grad()
    def encode(self, images, batch=1000):
        """Token ids int32 [N, L]."""
        out = []
        for i in range(0, len(images), batch):
            f = self.features(images[i:i + batch])
            ids = torch.cdist(f, self.centroids).argmin(1)
            out.append(ids.reshape(len(images[i:i + batch]), -1).to(torch.int32).numpy())
        return np.concatenate(out)


def interval(row):
    return f"[{row['tcas_ci_low']:.4f}, {row['tcas_ci_high']:.4f}]"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.normpath(os.path.join(here, "..", "..", "shared", "datasets",
                                            "cifar10-jpg.tar.gz"))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dataset", nargs="?", default=default)
    p.add_argument("--vocab", type=int, default=256, help="K of both tokenizers")
    p.add_argument("--patch-size", type=int, default=4)
    p.add_argument("--fit-images", type=int, default=5000, help="train images to fit on")
    p.add_argument("--bootstrap", type=int, default=200)
    args = p.parse_args()
    torch.manual_seed(0)

    start = time.time()
    train, _, _ = clustermim.load_dataset(args.dataset, "train")
    test, labels, classes = clustermim.load_dataset(args.dataset, "test")
    train = train[np.random.default_rng(0).permutation(len(train))[:args.fit_images]]
    print(f"{args.dataset}: fit on {len(train)} train images, score {len(test)} test images"
          f" {test.shape[1]}x{test.shape[2]} of {len(classes)} classes"
          f" ({time.time() - start:.1f} s to load)")

    start = time.time()
    mine = RandomConvKMeans(args.vocab, args.patch_size).fit(train)
    my_tokens = mine.encode(test)
    mine_s = time.time() - start
    start = time.time()
    pixel = clustermim.fit_pixel_kmeans(train, vocab=args.vocab, patch_size=args.patch_size)
    pixel_tokens = pixel.encode(test)
    pixel_s = time.time() - start
    random_tokens = np.random.default_rng(0).integers(0, args.vocab, size=my_tokens.shape)

    rows = [(f"my tokenizer (random conv + K-means, {mine_s:.0f} s)", my_tokens),
            (f"clustermim pixel K-means ({pixel_s:.0f} s)", pixel_tokens),
            ("random tokens (the no-information end)", random_tokens)]
    print(f"\nK = {args.vocab}, patch {args.patch_size}, {my_tokens.shape[1]} tokens per image;"
          f" 95 % intervals from {args.bootstrap} bootstrap resamples of the images")
    print(f"{'tokenizer':48s} {'TCAS':>7s} {'95% CI':>18s} {'K used':>7s} {'perplexity':>10s}"
          f" {'NMI':>6s}")
    for name, tokens in rows:
        r = clustermim.tcas(tokens, labels, vocab=args.vocab, bootstrap=args.bootstrap)
        print(f"{name:48s} {r['tcas']:7.4f} {interval(r):>18s} {r['k_used']:7d}"
              f" {r['perplexity']:10.1f} {r['nmi']:6.3f}")

    c = clustermim.compare_tcas(my_tokens, pixel_tokens, labels, bootstrap=args.bootstrap)
    verdict = ("no real difference" if c["difference_ci_low"] <= 0 <= c["difference_ci_high"]
               else "mine is better" if c["difference"] < 0 else "pixel K-means is better")
    print(f"\nmine - pixel K-means: {c['difference']:+.4f}, 95 % CI [{c['difference_ci_low']:+.4f},"
          f" {c['difference_ci_high']:+.4f}], p = {c['p_value']:.3f}: {verdict}")


if __name__ == "__main__":
    main()
