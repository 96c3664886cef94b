#!/usr/bin/env python3
"""Reference for bench_epoch: end-to-end ClusterMIM pretraining in Python PyTorch, as the paper's
code runs it, and the tokenizer's nearest-centroid assignment alone.

Epoch: random 32x32 RGB uint8 images in a torch Dataset, the augmentation of
bench/loader_reference.py (RandomResizedCrop(32, scale 0.2-1) + flip + normalize; torchvision's
when importable) in a DataLoader with 2 worker processes, pixel K-means tokens of the augmented
batch (4x4 patches, torch.cdist + argmin against K centroids) in the training process, then
bench/pretrain_reference.py's MAE-style model, token loss and AdamW step. images/s over all
--steps, the workers' start included (as clustermim's side includes its loader threads').

--tokenize-only: images/s of the assignment alone on random normalized batches.

Prints one JSON line: {"images_per_second": ..., "peak_rss_mb": ...}.
"""
import argparse
import json
import resource
import statistics
import time

import torch

import loader_reference
import pretrain_reference


def patch_vectors(images, patch):
    """[B, 3, S, S] -> [B, L, patch*patch*3], patches in row-major order, pixels (y, x, c)."""
    b, c, s, _ = images.shape
    g = s // patch
    x = images.reshape(b, c, g, patch, g, patch).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, g * g, patch * patch * c)


def tokenize(images, centroids, patch=4):
    v = patch_vectors(images, patch)
    b, l, d = v.shape
    return torch.cdist(v.reshape(b * l, d), centroids).argmin(1).reshape(b, l)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def tokenize_only(a):
    centroids = torch.randn(a.vocab, 48)
    images = torch.randn(a.batch, 3, 32, 32)
    seconds = []
    for i in range(a.reps + 2):
        start = time.perf_counter()
        tokenize(images, centroids)
        if i >= 2:
            seconds.append(time.perf_counter() - start)
    return a.batch / statistics.median(seconds)


def epoch(a):
    transform, _kind = loader_reference.make_transform()
    data = loader_reference.Synthetic(a.images, transform)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, shuffle=True, drop_last=True,
                                         num_workers=a.workers, persistent_workers=a.workers > 0)
    model_args = argparse.Namespace(dim=192, depth=12, heads=3, dec_dim=128, dec_depth=4,
                                    dec_heads=4, image_size=32, patch=4, vocab=a.vocab)
    torch.manual_seed(0)
    model = pretrain_reference.MaskedTokenViT(model_args)
    optimizer = torch.optim.AdamW(pretrain_reference.param_groups(model, 0.05), lr=1e-4,
                                  betas=(0.9, 0.95))
    first, _ = data[0]
    centroids = patch_vectors(first.unsqueeze(0), 4)[0][torch.randint(0, 64, (a.vocab,))]
    centroids = centroids + 0.01 * torch.randn_like(centroids)
    start, done = time.perf_counter(), 0
    while done < a.steps:
        for images, _labels in loader:
            with torch.no_grad():
                targets = tokenize(images, centroids)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                pred, mask = model(images, 0.75)
            loss = pretrain_reference.token_loss(pred, targets, mask, 0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            done += 1
            if done == a.steps:
                break
    return a.steps * a.batch / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--images", type=int, default=10240)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--tokenize-only", action="store_true")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    ips = tokenize_only(a) if a.tokenize_only else epoch(a)
    print(json.dumps({"images_per_second": ips, "peak_rss_mb": peak_rss_mb(),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
