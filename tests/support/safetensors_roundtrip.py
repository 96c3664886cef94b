#!/usr/bin/env python3
"""Round trip of an exported encoder through Python PyTorch (used by tests/test_weights.cpp).

    safetensors_roundtrip.py IN OUT DEPTH

Reads IN with the standard library and torch only (no safetensors package needed), checks that
its keys are exactly those of timm's VisionTransformer(num_classes=0) with DEPTH blocks and that
the shapes agree with each other, then writes every tensor back as float16, in reverse order, as
the safetensors format specifies. Exits non-zero with a message on any mismatch.
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"])
    return meta, tensors


def timm_keys(depth):
    keys = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
            "norm.weight", "norm.bias"}
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys |= {f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"}
    return keys


def write(path, tensors, meta):
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name in sorted(tensors, reverse=True):
        blob = tensors[name].to(torch.float16).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    src, dst, depth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    meta, tensors = read(src)
    missing, extra = timm_keys(depth) - set(tensors), set(tensors) - timm_keys(depth)
    if missing or extra:
        sys.exit(f"keys differ from timm's: missing {sorted(missing)}, extra {sorted(extra)}")
    d = tensors["cls_token"].shape[-1]
    assert tensors["cls_token"].shape == (1, 1, d)
    assert tensors["pos_embed"].shape[0] == 1 and tensors["pos_embed"].shape[2] == d
    assert tensors["blocks.0.attn.qkv.weight"].shape == (3 * d, d)
    assert tensors["patch_embed.proj.weight"].shape[0] == d
    write(dst, tensors, {"format": "pt"})
    print(f"{len(tensors)} tensors, timm keys, written back as F16")


if __name__ == "__main__":
    main()
