#!/usr/bin/env python3
"""Python reference for bench_loader: images/s of an augmenting PyTorch data pipeline.

The same work as bench/bench_loader.cpp: 20k random 32x32x3 uint8 images, RandomResizedCrop(32,
scale=(0.2, 1), ratio=(3/4, 4/3), bicubic) + horizontal flip (p = 0.5) + normalize, batches of 256
from a torch.utils.data.DataLoader with 2 workers (shuffle, drop_last). Uses torchvision's
transforms when it is importable, else a plain torch version (torchvision's get_params re-done,
torch.nn.functional.interpolate(mode='bicubic') per image). Prints images/s.

    /usr/bin/python3 bench/loader_reference.py [--workers 2] [--epochs 2]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

MEAN = torch.tensor([0.49, 0.48, 0.45]).view(3, 1, 1)
STD = torch.tensor([0.25, 0.24, 0.26]).view(3, 1, 1)
SIZE, SCALE, RATIO = 32, (0.2, 1.0), (3 / 4, 4 / 3)


def crop_params(height, width):
    """torchvision.transforms.RandomResizedCrop.get_params."""
    area = height * width
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(*SCALE).item()
        aspect = math.exp(torch.empty(1).uniform_(*log_ratio).item())
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,)).item()
            j = torch.randint(0, width - w + 1, size=(1,)).item()
            return i, j, h, w
    in_ratio = width / height
    if in_ratio < min(RATIO):
        w, h = width, int(round(width / min(RATIO)))
    elif in_ratio > max(RATIO):
        h, w = height, int(round(height * max(RATIO)))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def plain_transform(image):
    """uint8 [H, W, 3] -> float [3, SIZE, SIZE]."""
    i, j, h, w = crop_params(image.shape[0], image.shape[1])
    crop = image[i:i + h, j:j + w].permute(2, 0, 1).float().div_(255).unsqueeze(0)
    out = F.interpolate(crop, size=(SIZE, SIZE), mode="bicubic", align_corners=False)[0]
    out = out.clamp_(0, 1)
    if torch.rand(1).item() < 0.5:
        out = out.flip(-1)
    return (out - MEAN) / STD


def make_transform():
    try:
        import torchvision.transforms as T
    except ImportError:
        return plain_transform, "plain torch (torchvision not importable)"
    pipeline = T.Compose([
        T.RandomResizedCrop(SIZE, scale=SCALE, ratio=RATIO,
                            interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
        T.ConvertImageDtype(torch.float32),
        T.Normalize(MEAN.flatten().tolist(), STD.flatten().tolist()),
    ])
    return (lambda image: pipeline(image.permute(2, 0, 1))), "torchvision"


class Synthetic(torch.utils.data.Dataset):
    def __init__(self, n, transform):
        gen = torch.Generator().manual_seed(1)
        self.images = torch.randint(0, 256, (n, SIZE, SIZE, 3), dtype=torch.uint8, generator=gen)
        self.labels = torch.arange(n) % 10
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.transform(self.images[index]), self.labels[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--json", help="also write {\"images_per_second\": ...} to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    transform, kind = make_transform()
    loader = torch.utils.data.DataLoader(
        Synthetic(args.images, transform), batch_size=256, shuffle=True, drop_last=True,
        num_workers=args.workers, persistent_workers=args.workers > 0)
    for _ in zip(range(4), loader):  # warm up: start the workers
        pass
    images, start = 0, time.perf_counter()
    for _ in range(args.epochs):
        for batch, _labels in loader:
            images += batch.shape[0]
    seconds = time.perf_counter() - start
    print(f"{kind}, {args.workers} workers: {images} images in {seconds:.2f} s = "
          f"{images / seconds:.0f} images/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kind": kind, "workers": args.workers,
                       "images_per_second": images / seconds}, f)


if __name__ == "__main__":
    main()
