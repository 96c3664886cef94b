#!/usr/bin/env python3
"""Reference for bench_pretrain: one ClusterMIM pretraining step in plain PyTorch, written from
the MAE recipe (the paper's code builds on MAE + timm), so clustermim's LibTorch step can be
timed against the framework the paper used on the same model, batch and precision.

Model: ViT encoder (conv patch embed, cls token, fixed 2-D sin-cos pos embed, pre-norm blocks
with LayerNorm eps 1e-6, qkv bias, MLP ratio 4, exact GELU, final norm) on the visible patches
after MAE's per-sample random masking, then MAE's decoder (embed, mask tokens, unshuffle,
decoder pos embed, blocks, norm) and a token head run on *all* positions, as MAE does; the loss
is cross-entropy (label smoothing 0.1) averaged over masked patches; AdamW (0.9, 0.95, wd 0.05,
no decay for biases and norms). Images and targets are random and fixed for the run.

Prints one JSON line: {"images_per_second": batch / median step time, "step_seconds": [...],
"phase_ms": {"forward", "backward", "optimizer"} (medians over as many extra steps, the device
synchronised between phases, as bench_pretrain times clustermim's; null with --no-phases, which
bench_pretrain passes after its first round), "peak_rss_mb": ...}.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sincos_2d(dim, grid, cls):
    """MAE's get_2d_sincos_pos_embed (first dim/2 encode the column, last dim/2 the row)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    coord = torch.arange(grid, dtype=torch.float64)
    cols, rows = coord.repeat(grid), coord.repeat_interleave(grid)

    def one(pos):
        out = torch.outer(pos, omega)
        return torch.cat([out.sin(), out.cos()], 1)

    table = torch.cat([one(cols), one(rows)], 1).float()
    if cls:
        table = torch.cat([torch.zeros(1, dim), table], 0)
    return table.unsqueeze(0)


SDPA = False  # --sdpa: F.scaled_dot_product_attention (fused kernels), as current timm does


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if SDPA:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MaskedTokenViT(nn.Module):
    """MAE's MaskedAutoencoderViT with a K-way token head instead of the pixel head."""

    def __init__(self, a):
        super().__init__()
        self.patch, grid = a.patch, a.image_size // a.patch
        self.patch_embed = nn.Conv2d(3, a.dim, a.patch, stride=a.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, a.dim))
        self.pos_embed = nn.Parameter(sincos_2d(a.dim, grid, True), requires_grad=False)
        self.blocks = nn.ModuleList([Block(a.dim, a.heads) for _ in range(a.depth)])
        self.norm = nn.LayerNorm(a.dim, eps=1e-6)
        self.decoder_embed = nn.Linear(a.dim, a.dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, a.dec_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_2d(a.dec_dim, grid, True), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([Block(a.dec_dim, a.dec_heads)
                                             for _ in range(a.dec_depth)])
        self.decoder_norm = nn.LayerNorm(a.dec_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(a.dec_dim, a.vocab)
        # MAE's initialize_weights.
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0)

    @staticmethod
    def random_masking(x, mask_ratio):
        n, l, d = x.shape
        len_keep = int(l * (1 - mask_ratio))
        noise = torch.rand(n, l, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, d))
        mask = torch.ones([n, l], device=x.device)
        mask[:, :len_keep] = 0
        return x_masked, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(self, imgs, mask_ratio):
        x = self.patch_embed(imgs).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:, :]
        x, mask, ids_restore = self.random_masking(x, mask_ratio)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, x, ids_restore):
        x = self.decoder_embed(x)
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:, :]  # head on all positions

    def forward(self, imgs, mask_ratio=0.75):
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio)
        return self.forward_decoder(latent, ids_restore), mask


def token_loss(pred, targets, mask, label_smoothing):
    """MAE's forward_loss with cross-entropy: per-patch loss, averaged over masked patches."""
    b, l, k = pred.shape
    loss = F.cross_entropy(pred.float().reshape(b * l, k), targets.reshape(b * l),
                           label_smoothing=label_smoothing, reduction="none").reshape(b, l)
    return (loss * mask).sum() / mask.sum()


def param_groups(model, weight_decay):
    """timm's optim_factory.add_weight_decay, as MAE's main_pretrain uses it."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 192), ("depth", 12), ("heads", 3), ("dec-dim", 128),
                          ("dec-depth", 4), ("dec-heads", 4), ("image-size", 32), ("patch", 4),
                          ("vocab", 512), ("batch", 128), ("steps", 10), ("warmup", 3),
                          ("threads", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--mask-ratio", type=float, default=0.75)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--bf16", action="store_true", help="torch.autocast(device, bfloat16)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sdpa", action="store_true", help="fused attention (PyTorch >= 2.0)")
    p.add_argument("--no-phases", action="store_true", help="skip the phase-by-phase steps")
    a = p.parse_args()
    global SDPA
    SDPA = a.sdpa
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = MaskedTokenViT(a).to(a.device)
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=a.lr, betas=(0.9, 0.95))
    images = torch.randn(a.batch, 3, a.image_size, a.image_size, device=a.device)
    patches = (a.image_size // a.patch) ** 2
    targets = torch.randint(0, a.vocab, (a.batch, patches), device=a.device)

    def forward():
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.bf16):
            pred, mask = model(images, a.mask_ratio)
        return token_loss(pred, targets, mask, a.label_smoothing)

    def backward(loss):
        optimizer.zero_grad()
        loss.backward()

    seconds = []
    for step in range(a.warmup + a.steps):
        start = time.perf_counter()
        loss = forward()
        backward(loss)
        optimizer.step()
        value = loss.item()  # waits for the device
        if step >= a.warmup:
            seconds.append(time.perf_counter() - start)
    assert math.isfinite(value), "non-finite loss"

    def elapsed_ms(since):
        if a.device == "cuda":
            torch.cuda.synchronize()
        return 1000 * (time.perf_counter() - since)

    phases = {"forward": [], "backward": [], "optimizer": []}
    for _ in range(0 if a.no_phases else a.steps):
        start = time.perf_counter()
        loss = forward()
        phases["forward"].append(elapsed_ms(start))
        start = time.perf_counter()
        backward(loss)
        phases["backward"].append(elapsed_ms(start))
        start = time.perf_counter()
        optimizer.step()
        phases["optimizer"].append(elapsed_ms(start))
    print(json.dumps({"images_per_second": a.batch / statistics.median(seconds),
                      "step_seconds": seconds, "loss": value,
                      "phase_ms": (None if a.no_phases else
                                   {k: statistics.median(v) for k, v in phases.items()}),
                      "threads": torch.get_num_threads(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "gpu_peak_mb": (torch.cuda.max_memory_allocated() / 2**20
                                      if a.device == "cuda" else 0),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
