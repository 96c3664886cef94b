"""timm compatibility shown by behaviour (issue 20, item 5): the safetensors file that
`clustermim export` writes loads with strict=True into a Vision Transformer written here in
plain PyTorch after timm's `VisionTransformer` (timm itself is not installable here; the module
and parameter names below are timm's), and that model's features of the same images equal the
ones clustermim computes (its `eval` feature cache), to fp32 tolerance.

Flow: a tiny MAE pretraining run (2 steps of vit-tiny-28 on a 28x28 IDX dataset written here),
`export`, `eval knn` in fp32 (which caches the CLS and mean-pooled features of the test split),
then the same images through this file's ViT."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import class_images, run_cli, write_idx

torch = pytest.importorskip("torch")
nn = torch.nn

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}


# ---- timm's VisionTransformer (class_token=True, num_classes=0, global_pool="token") ----------


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, L, D]


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio):
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        num_patches = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, embed_dim))
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Identity()

    def forward_features(self, x):
        """Normalized images [B, C, S, S] -> tokens [B, 1 + L, D] after the final norm."""
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))


# ---- the two files read here: safetensors and clustermim's feature cache (CMFT) ---------------


def read_safetensors(path):
    """(metadata dict, {name: tensor}) of a safetensors file, read with the standard library."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[e["dtype"]])
        tensors[name] = flat.reshape(e["shape"]).clone()
    return meta, tensors


def read_tensor_file(path):
    """{name: tensor} of a clustermim tensor file (src/io/tensor_file.h: magic, u32 version, u64
    header length, JSON header, zero padding to 64 bytes, tensor data, CRC-32)."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[8:16])
    header = json.loads(raw[16:16 + n])
    start = (16 + n + 63) // 64 * 64
    tensors = {}
    for e in header["tensors"]:
        begin = start + e["offset"]
        flat = torch.frombuffer(bytearray(raw[begin:begin + e["nbytes"]]), dtype=DTYPES[e["dtype"]])
        tensors[e["name"]] = flat.reshape(e["shape"])
    return tensors


# ---- the test ----------------------------------------------------------------------------------


def test_exported_encoder_matches_a_timm_vit(cli, tmp_path):
    data = tmp_path / "idx"
    data.mkdir()
    test_images = None
    for split, n, seed in (("train", 16, 1), ("test", 6, 2)):
        images, labels = class_images(n, 28, 1, 2, seed)
        write_idx(data, split, images[..., 0], labels)
        if split == "test":
            test_images = images
    out = tmp_path / "run"
    common = ("--cache-dir", "none", "--threads", "2", "--workers", "1")
    r = run_cli(cli, "pretrain", "--method", "mae", "--out", out, "--set", f"data.dataset={data}",
                "--set", "pretrain.batch_size=8", "--set", "pretrain.max_steps=2", *common)
    assert r.returncode == 0, r.stderr
    checkpoints = sorted((out / "mae").glob("*.cmck"))
    assert checkpoints, f"no checkpoint in {out / 'mae'}"
    checkpoint = checkpoints[-1]
    exported = tmp_path / "encoder.safetensors"
    r = run_cli(cli, "export", "--checkpoint", checkpoint, "-o", exported, *common)
    assert r.returncode == 0, r.stderr
    r = run_cli(cli, "eval", "knn", "--checkpoint", checkpoint, "--set", "eval.bf16=false",
                "--set", "eval.knn_k=3", *common)
    assert r.returncode == 0, r.stderr

    meta, weights = read_safetensors(exported)
    vit = json.loads(meta["clustermim.vit"])
    model = VisionTransformer(vit["image_size"], vit["patch_size"], vit["in_chans"], vit["dim"],
                              vit["depth"], vit["heads"], vit["mlp_ratio"])
    model.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    model.eval()

    stats = json.loads(meta["clustermim.stats"])
    mean = torch.tensor(stats["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(stats["std"], dtype=torch.float32).view(1, 3, 1, 1)
    pixels = torch.from_numpy(np.ascontiguousarray(test_images)).permute(0, 3, 1, 2)  # [N, 1, S, S]
    x = (pixels.float().expand(-1, 3, -1, -1) / 255.0 - mean) / std  # grayscale into every channel
    with torch.no_grad():
        tokens = model.forward_features(x)

    cached = read_tensor_file(Path(str(checkpoint) + ".features") / "features-test.cmft")
    assert cached["cls"].shape == (len(test_images), vit["dim"])
    torch.testing.assert_close(tokens[:, 0], cached["cls"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(tokens[:, 1:].mean(1), cached["mean"], rtol=1e-4, atol=1e-4)
    # The features differ from image to image, so the comparison above is not trivially met.
    assert tokens[:, 0].std(0).max() > 1e-3
