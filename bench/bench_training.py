"""One stage-two training step on CPU, part by part, against the way each part was done before.

    python bench/bench_training.py [--data ../shared/data] [--repeats 7]

On the real ScanNet scene0011_00 (Pointcept layout; 237k points, 10 cm voxels, the default
network), medians over --repeats runs, each ratio measured in the same run:
- voxelise: `voxel.voxelize` (np.unique over one int64 key per point) vs np.unique(axis=0) over
  the (N, 3) grid coordinates, its previous implementation (the anchor);
- loss: `segmentation.voxel_cross_entropy` (what `Segmenter.loss` uses: per voxel, from class
  counts) vs F.cross_entropy over the points' gathered logits (the anchor), forward and backward
  of the loss alone, on fixed logits;
- one whole training step (augment, voxelise, forward, loss, backward, AdamW step).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from weakseg.datasets import DATASETS  # noqa: E402
from weakseg.segmentation import Segmenter, voxel_cross_entropy  # noqa: E402
from weakseg.voxel import point_features, voxelize  # noqa: E402

from bench_loading import median_seconds  # noqa: E402  (bench/ is on sys.path: scripts run from there)


def unique_rows(coord, voxel_size):
    """The anchor: the previous voxel keys, np.unique over grid rows."""
    grid = np.floor((coord - coord.min(0)) / voxel_size).astype(np.int64)
    return np.unique(grid, axis=0, return_inverse=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    reader = DATASETS.get("scannet_pointcept")({"root": str(a.data / "scannet_pointcept")})
    scene = reader.load("scene0011_00")
    n = scene.num_points
    feats = point_features(scene.coord, scene.color, scene.normal)
    seg = Segmenter(20, {"voxel_size": 0.1, "channels": [32, 64, 96, 128], "blocks": 1, "class_balance": 0.5}, "cpu")
    example = seg.example(scene, scene.label)
    seg.balance([example])

    ours = median_seconds(lambda: voxelize([scene.coord], [feats], 0.1), a.repeats)
    anchor = median_seconds(lambda: unique_rows(scene.coord, 0.1), a.repeats)
    batch = voxelize([scene.coord], [feats], 0.1)
    print(f"scene0011_00: {n:,} points, {len(batch.features):,} voxels of 10 cm\n")
    print("| part | ours | anchor (previous) | ratio |\n|---|---:|---:|---:|")
    print(f"| voxelise (whole `voxelize`) vs np.unique(axis=0) alone | {ours * 1e3:.1f} ms | {anchor * 1e3:.1f} ms | {anchor / ours:.1f}x |")

    logits = torch.randn(len(batch.features), 20, requires_grad=True)
    target = torch.from_numpy(np.asarray(scene.label, np.int64))
    w = seg.class_weights

    def per_point():
        F.cross_entropy(logits[batch.inverse], target, weight=w, ignore_index=-1).backward()

    def per_voxel():
        voxel_cross_entropy(logits, batch.inverse.numpy(), target.numpy(), w).backward()

    ours, anchor = median_seconds(per_voxel, a.repeats), median_seconds(per_point, a.repeats)
    print(f"| loss, forward + backward | {ours * 1e3:.1f} ms | {anchor * 1e3:.1f} ms | {anchor / ours:.1f}x |")

    opt = torch.optim.AdamW(seg.model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)

    def step():
        loss = seg.loss([example], rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    print(f"| one training step (all of it) | {median_seconds(step, a.repeats) * 1e3:.0f} ms | | |")


if __name__ == "__main__":
    main()
