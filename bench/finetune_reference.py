#!/usr/bin/env python3
"""Reference for bench_finetune: one step of MAE's main_finetune.py (engine_finetune's
train_one_epoch) in plain PyTorch, so clustermim's LibTorch fine-tuning step can be timed against
the framework of the paper's code on the same model, batch and precision; and, with
--transform, the fine-tuning training transform per image on one core.

The step, as MAE runs it with timm:
- the model: timm's VisionTransformer as MAE's models_vit (global_pool=True): conv patch embed,
  cls token, learnable pos_embed, pre-norm blocks (LayerNorm eps 1e-6, the attention of
  bench/pretrain_reference.py, MLP ratio 4, exact GELU) with stochastic depth at timm's
  linspace(0, drop_path, depth) rates, the mean of the patch tokens, fc_norm, a linear head
  (weight N(0, 2e-5)). Dropout rates are 0 in MAE's recipe; those identity modules are left out;
- MAE's util/lr_decay.py param groups (layer-wise lr decay, no weight decay for 1-D parameters,
  pos_embed and cls_token) into torch.optim.AdamW (betas 0.9, 0.999), the lr of each group set to
  lr * lr_scale every step as MAE's util/lr_sched.adjust_learning_rate does;
- timm's Mixup (mode 'batch': mixup 0.8, cutmix 1.0, switch 0.5, label smoothing 0.1, numpy
  draws, in place on a fresh copy of the batch as a loader would hand over) and
  SoftTargetCrossEntropy, model and loss under torch.autocast(bf16);
- loss.item(), backward, the gradient norm (MAE's NativeScalerWithGradNormCount computes it every
  step; bf16 needs no loss scaling, so the GradScaler is left out), optimizer.step(),
  optimizer.zero_grad().
Images and labels are random and fixed for the run. Prints one JSON line:
{"images_per_second": batch / median step time, "step_seconds": [...], "peak_rss_mb": ...}.

--transform: timm's create_transform(is_training=True, auto_augment='rand-m9-mstd0.5-inc1',
re_prob=0.25, re_mode='pixel', re_count=1, interpolation='bicubic') as MAE's build_transform:
RandomResizedCrop(scale 0.08-1, bicubic) + flip on a PIL image, RandAugment (2 ops of timm's
increasing set, each with probability 0.5 at level N(9, 0.5), Pillow operations, geometric ones
bicubic with the mean as fill), ToTensor, Normalize, random erasing (p 0.25, per-pixel normal
values). Random uint8 source images, one thread; prints {"images_per_second": ...}.
"""
import argparse
import json
import math
import os
import random
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pretrain_reference  # noqa: E402  (the attention and the sin-cos table)


def drop_path(x, rate, training):
    """timm's drop_path: each sample's residual branch kept with probability 1 - rate, rescaled."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask.div_(keep)


class Block(nn.Module):
    """timm's Block with DropPath."""

    def __init__(self, dim, heads, drop_path_rate, mlp_ratio=4.0):
        super().__init__()
        self.rate = drop_path_rate
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = pretrain_reference.Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(),
                                 nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x):
        x = x + drop_path(self.attn(self.norm1(x)), self.rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.rate, self.training)


class VisionTransformer(nn.Module):
    """MAE's models_vit.VisionTransformer with global_pool=True (the final norm deleted)."""

    def __init__(self, a):
        super().__init__()
        grid = a.image_size // a.patch
        self.patch_embed = nn.Conv2d(3, a.dim, a.patch, stride=a.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, a.dim))
        self.pos_embed = nn.Parameter(pretrain_reference.sincos_2d(a.dim, grid, True))
        rates = [x.item() for x in torch.linspace(0, a.drop_path, a.depth)]
        self.blocks = nn.ModuleList([Block(a.dim, a.heads, r) for r in rates])
        self.fc_norm = nn.LayerNorm(a.dim, eps=1e-6)
        self.head = nn.Linear(a.dim, a.classes)
        nn.init.normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)
        nn.init.trunc_normal_(self.head.weight, std=2e-5)

    def forward(self, images):
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.fc_norm(x[:, 1:, :].mean(dim=1)))


def param_groups_lrd(model, weight_decay, layer_decay, depth):
    """MAE's util/lr_decay.param_groups_lrd: one group per (layer, decay or not), with lr_scale."""
    num_layers = depth + 1
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim == 1 or name in ("pos_embed", "cls_token")
        if name in ("cls_token", "pos_embed") or name.startswith("patch_embed"):
            layer = 0
        elif name.startswith("blocks"):
            layer = int(name.split(".")[1]) + 1
        else:
            layer = num_layers
        key = f"layer_{layer}_{'no_decay' if no_decay else 'decay'}"
        if key not in groups:
            groups[key] = {"lr_scale": layer_decay ** (num_layers - layer),
                           "weight_decay": 0.0 if no_decay else weight_decay, "params": []}
        groups[key]["params"].append(p)
    return list(groups.values())


def adjust_learning_rate(optimizer, epoch, a):
    """MAE's util/lr_sched.adjust_learning_rate: warmup, then half-cycle cosine, per group."""
    if epoch < a.warmup_epochs:
        lr = a.lr * epoch / a.warmup_epochs
    else:
        lr = a.min_lr + (a.lr - a.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * (epoch - a.warmup_epochs) / (a.epochs - a.warmup_epochs)))
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]


class Mixup:
    """timm's Mixup, mode 'batch', correct_lam=True: the batch mixed in place with its flip."""

    def __init__(self, classes, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5,
                 label_smoothing=0.1):
        self.classes, self.mixup_alpha, self.cutmix_alpha = classes, mixup_alpha, cutmix_alpha
        self.switch_prob, self.smoothing = switch_prob, label_smoothing

    def one_hot(self, labels, on, off):
        return torch.full((labels.size(0), self.classes), off, device=labels.device).scatter_(
            1, labels.long().view(-1, 1), on)

    def __call__(self, x, labels):
        use_cutmix = np.random.rand() < self.switch_prob
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(np.random.beta(alpha, alpha))
        if lam != 1.0:
            if use_cutmix:
                h, w = x.shape[-2:]
                ratio = np.sqrt(1 - lam)
                cut_h, cut_w = int(h * ratio), int(w * ratio)
                cy, cx = np.random.randint(0, h), np.random.randint(0, w)
                top, bottom = np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h)
                left, right = np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)
                lam = 1.0 - (bottom - top) * (right - left) / float(h * w)
                x[:, :, top:bottom, left:right] = x.flip(0)[:, :, top:bottom, left:right]
            else:
                x_flipped = x.flip(0).mul_(1.0 - lam)
                x.mul_(lam).add_(x_flipped)
        off = self.smoothing / self.classes
        on = 1.0 - self.smoothing + off
        y1, y2 = self.one_hot(labels, on, off), self.one_hot(labels.flip(0), on, off)
        return x, y1 * lam + y2 * (1.0 - lam)


def soft_target_cross_entropy(logits, targets):
    """timm's SoftTargetCrossEntropy."""
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


def grad_norm(parameters):
    """MAE's util/misc.get_grad_norm_ (L2 norm of all gradients)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    return torch.norm(torch.stack([torch.norm(g.detach(), 2.0) for g in grads]), 2.0)


def time_step(a):
    """images/s of MAE's fine-tuning step (see the module docstring)."""
    torch.manual_seed(0)
    np.random.seed(0)
    model = VisionTransformer(a).to(a.device)
    model.train()
    optimizer = torch.optim.AdamW(param_groups_lrd(model, a.weight_decay, a.layer_decay, a.depth),
                                  lr=a.lr)
    mixup = Mixup(a.classes)
    images = torch.randn(a.batch, 3, a.image_size, a.image_size, device=a.device)
    labels = torch.randint(0, a.classes, (a.batch,), device=a.device)
    steps_per_epoch = 1000  # a nominal epoch: where the step falls in the schedule
    seconds = []
    for step in range(a.warmup + a.steps):
        start = time.perf_counter()
        adjust_learning_rate(optimizer, step / steps_per_epoch, a)
        samples, targets = mixup(images.clone(), labels)
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.bf16):
            outputs = model(samples)
            loss = soft_target_cross_entropy(outputs, targets)
        value = loss.item()
        loss.backward()
        grad_norm(model.parameters())
        optimizer.step()
        optimizer.zero_grad()
        if a.device == "cuda":
            torch.cuda.synchronize()
        if step >= a.warmup:
            seconds.append(time.perf_counter() - start)
    assert math.isfinite(value), "non-finite loss"
    return {"images_per_second": a.batch / statistics.median(seconds), "step_seconds": seconds,
            "loss": value, "threads": torch.get_num_threads(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "gpu_peak_mb": (torch.cuda.max_memory_allocated() / 2**20
                            if a.device == "cuda" else 0),
            "torch": torch.__version__}


# timm's rand augment, 'inc1' (the increasing set), on PIL images.
def _rand_augment_ops(fill, translate_pct):
    from PIL import Image, ImageEnhance, ImageOps

    geometry = {"resample": Image.BICUBIC, "fillcolor": fill}

    def signed(v):
        return -v if random.random() > 0.5 else v

    def enhance(kind):
        return lambda img, level: kind(img).enhance(1.0 + signed(level / 10 * 0.9))

    def affine(matrix):
        return lambda img, level: img.transform(img.size, Image.AFFINE, matrix(img, level),
                                                **geometry)

    def solarize_add(img, level):
        add = int(level / 10 * 110)
        lut = [min(255, i + add) if i < 128 else i for i in range(256)]
        return img.point(lut * len(img.getbands()))

    return [
        lambda img, level: ImageOps.autocontrast(img),
        lambda img, level: ImageOps.equalize(img),
        lambda img, level: ImageOps.invert(img),
        lambda img, level: img.rotate(signed(level / 10 * 30), **geometry),
        lambda img, level: ImageOps.posterize(img, 4 - int(level / 10 * 4)),
        lambda img, level: ImageOps.solarize(img, 256 - int(level / 10 * 256)),
        solarize_add,
        enhance(ImageEnhance.Color),
        enhance(ImageEnhance.Contrast),
        enhance(ImageEnhance.Brightness),
        enhance(ImageEnhance.Sharpness),
        affine(lambda img, level: (1, signed(level / 10 * 0.3), 0, 0, 1, 0)),
        affine(lambda img, level: (1, 0, 0, signed(level / 10 * 0.3), 1, 0)),
        affine(lambda img, level: (1, 0, signed(level / 10 * translate_pct) * img.size[0], 0, 1, 0)),
        affine(lambda img, level: (1, 0, 0, 0, 1, signed(level / 10 * translate_pct) * img.size[1])),
    ]


def make_transform(size, mean, std):
    """MAE's training transform (see the module docstring): PIL image -> float [3, size, size]."""
    import torchvision.transforms as T

    ops = _rand_augment_ops(tuple(min(255, round(255 * m)) for m in mean), 0.45)

    def rand_augment(img):
        for op in np.random.choice(len(ops), 2, replace=True):
            if random.random() > 0.5:
                continue
            level = min(10.0, max(0.0, random.gauss(9, 0.5)))
            img = ops[op](img, level)
        return img

    def random_erasing(x):
        if random.random() > 0.25:
            return x
        area = x.shape[1] * x.shape[2]
        for _ in range(10):
            target = random.uniform(0.02, 1 / 3) * area
            aspect = math.exp(random.uniform(math.log(0.3), math.log(1 / 0.3)))
            h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if w < x.shape[2] and h < x.shape[1]:
                top, left = random.randint(0, x.shape[1] - h), random.randint(0, x.shape[2] - w)
                x[:, top:top + h, left:left + w] = torch.empty((x.shape[0], h, w)).normal_()
                break
        return x

    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
        rand_augment,
        T.ToTensor(),
        T.Normalize(mean, std),
        random_erasing,
    ])


def time_transform(a):
    """Images/s of the training transform on one thread, over a.images random source images."""
    from PIL import Image

    torch.set_num_threads(1)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    transform = make_transform(a.image_size, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    pixels = np.random.randint(0, 256, (min(a.images, 256), a.source, a.source, 3), np.uint8)
    sources = [Image.fromarray(p) for p in pixels]
    for i in range(min(20, a.images)):  # warm-up
        transform(sources[i % len(sources)])
    start = time.perf_counter()
    for i in range(a.images):
        transform(sources[i % len(sources)])
    seconds = time.perf_counter() - start
    return {"images_per_second": a.images / seconds, "seconds": seconds, "images": a.images}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("dim", 192), ("depth", 12), ("heads", 3), ("image-size", 32),
                          ("patch", 4), ("classes", 10), ("batch", 128), ("steps", 10),
                          ("warmup", 3), ("threads", 0), ("images", 1000), ("source", 32)]:
        p.add_argument("--" + name, type=int, default=default)
    for name, default in [("drop-path", 0.1), ("layer-decay", 0.75), ("weight-decay", 0.05),
                          ("lr", 5e-4 * 128 / 256), ("min-lr", 1e-6), ("warmup-epochs", 5.0),
                          ("epochs", 100.0)]:
        p.add_argument("--" + name, type=float, default=default)
    p.add_argument("--bf16", action="store_true", help="torch.autocast(device, bfloat16)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sdpa", action="store_true", help="fused attention (PyTorch >= 2.0)")
    p.add_argument("--transform", action="store_true",
                   help="time the training transform (--images of --source px to --image-size)")
    a = p.parse_args()
    pretrain_reference.SDPA = a.sdpa
    if a.transform:
        print(json.dumps(time_transform(a)))
        return
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    print(json.dumps(time_step(a)))


if __name__ == "__main__":
    main()
