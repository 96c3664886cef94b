#!/usr/bin/env python3
"""bench/finetune_reference.py, the Python twin bench_finetune times clustermim's fine-tuning step
against: it must do MAE's work, or the ratio means nothing. MAE's lr_decay.py groups (embeddings
decay^(depth + 1), block i (0-based) decay^(depth - i), head and fc_norm 1; no weight decay on 1-D
parameters, pos_embed and cls_token), lr_sched's per-group lr, timm's Mixup (targets sum to 1,
CutMix's label weight is the unpasted area), drop path (identity in evaluation, the expected
fraction kept and rescaled in training), a step that runs and a transform deterministic per seed.
Needs Debian's python3-torch, numpy, torchvision and Pillow; skips (77) without them.
"""
import argparse
import os
import random
import sys
import unittest

try:
    import numpy as np
    import torch
    import torchvision  # noqa: F401  (the transform's crop)
    from PIL import Image
except ImportError as missing:
    print(f"skipped: {missing}")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import finetune_reference as ref  # noqa: E402


def tiny_args(**changes):
    a = argparse.Namespace(dim=16, depth=2, heads=2, image_size=8, patch=4, classes=3, batch=4,
                           steps=1, warmup=0, drop_path=0.1, layer_decay=0.5, weight_decay=0.05,
                           lr=1e-3, min_lr=0.0, warmup_epochs=2.0, epochs=10.0, bf16=True,
                           device="cpu", images=3, source=12)
    vars(a).update(changes)
    return a


class FinetuneReferenceTest(unittest.TestCase):
    def test_layer_decay_groups_are_maes(self):
        a = tiny_args()
        model = ref.VisionTransformer(a)
        groups = ref.param_groups_lrd(model, a.weight_decay, a.layer_decay, a.depth)
        of = {id(p): g for g in groups for p in g["params"]}
        names = dict(model.named_parameters())
        self.assertEqual(len(of), len(names))
        expected = {"cls_token": 0.125, "pos_embed": 0.125, "patch_embed.weight": 0.125,
                    "blocks.0.attn.qkv.weight": 0.25, "blocks.1.norm2.bias": 0.5,
                    "fc_norm.weight": 1.0, "head.weight": 1.0}
        for name, scale in expected.items():
            self.assertEqual(of[id(names[name])]["lr_scale"], scale, name)
        for name in ("cls_token", "pos_embed", "blocks.0.norm1.weight", "head.bias"):
            self.assertEqual(of[id(names[name])]["weight_decay"], 0.0, name)
        for name in ("patch_embed.weight", "blocks.1.mlp.0.weight", "head.weight"):
            self.assertEqual(of[id(names[name])]["weight_decay"], 0.05, name)

    def test_learning_rate_per_group(self):
        a = tiny_args()
        model = ref.VisionTransformer(a)
        optimizer = torch.optim.AdamW(ref.param_groups_lrd(model, 0.05, 0.5, a.depth), lr=a.lr)
        ref.adjust_learning_rate(optimizer, 1.0, a)  # half-way through the warmup
        for g in optimizer.param_groups:
            self.assertAlmostEqual(g["lr"], 0.5 * a.lr * g["lr_scale"])
        ref.adjust_learning_rate(optimizer, a.epochs, a)
        self.assertAlmostEqual(optimizer.param_groups[0]["lr"], a.min_lr)

    def test_mixup_targets_sum_to_one_and_cutmix_weight_is_the_unpasted_area(self):
        np.random.seed(3)
        labels = torch.tensor([0, 1, 2, 1])
        for _ in range(5):
            _, targets = ref.Mixup(3)(torch.randn(4, 3, 8, 8), labels)
            torch.testing.assert_close(targets.sum(1), torch.ones(4))
        images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 16, 16).clone()
        mixed, targets = ref.Mixup(3, switch_prob=1.0, label_smoothing=0.0)(images.clone(),
                                                                             labels)
        kept = (mixed[0] == 0).float().mean().item()
        self.assertLess(kept, 1.0)
        self.assertAlmostEqual(targets[0, 0].item(), kept, places=6)

    def test_drop_path_identity_in_eval_and_keeps_the_fraction_in_training(self):
        x = torch.ones(20000, 4)
        self.assertIs(ref.drop_path(x, 0.3, False), x)
        out = ref.drop_path(x, 0.3, True)
        self.assertAlmostEqual((out[:, 0] > 0).float().mean().item(), 0.7, delta=0.02)
        self.assertAlmostEqual(out[out > 0].unique().item(), 1 / 0.7, places=5)  # rescaled

    def test_step_runs_and_reports_images_per_second(self):
        out = ref.time_step(tiny_args())
        self.assertGreater(out["images_per_second"], 0)
        self.assertEqual(len(out["step_seconds"]), 1)

    def test_transform_shape_and_determinism(self):
        transform = ref.make_transform(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
        image = Image.fromarray(np.random.RandomState(0).randint(0, 256, (12, 12, 3), np.uint8))

        def draw(seed):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            return torch.stack([transform(image) for _ in range(8)])

        first = draw(1)
        self.assertEqual(tuple(first.shape), (8, 3, 8, 8))
        torch.testing.assert_close(first, draw(1))
        self.assertFalse(torch.equal(first, draw(2)))


if __name__ == "__main__":
    unittest.main()
