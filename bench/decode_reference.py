#!/usr/bin/env python3
"""Reference for bench_decode: torchvision's ImageFolder + DataLoader with MAE's training
transform (RandomResizedCrop(size, scale=(0.2, 1), bicubic) + RandomHorizontalFlip + ToTensor +
Normalize), PIL decoding at full size (no draft), in the main process on one thread.

Runs --passes passes over the images under --root after one warm-up image; prints one JSON
object {"images_per_second": ...}.
"""
import argparse
import json
import time

import torch
import torchvision.datasets as datasets
import torchvision.transforms as T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, help="an ImageFolder root (one class folder is enough)")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    torch.set_num_threads(1)
    transform = T.Compose([
        T.RandomResizedCrop(args.size, scale=(0.2, 1.0), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    dataset = datasets.ImageFolder(args.root, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, num_workers=0)
    dataset[0]
    start = time.perf_counter()
    count = 0
    for _ in range(args.passes):
        for images, _ in loader:
            count += images.shape[0]
    print(json.dumps({"images_per_second": count / (time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
