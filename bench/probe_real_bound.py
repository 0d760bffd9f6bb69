"""What limits the fully supervised bound on the real rooms: train stage two's network on a split
of the training rooms and score the rooms held out, one setting changed at a time.

    python bench/probe_real_bound.py [--set voxel_size=0.03 --set epochs=80 ...] [--pretrain-scenes 32]
                                     [--pointcept-augment] [--crop 0.5] [--mix3d 0.8]
                                     [--contrast-epochs 40] [--normals none] [--out probe.json]

The training scans of ../shared/data/scannet_rooms are split by room: the last three rooms by id
(scene0008-scene0010, 6 scans) are held out, the other 8 rooms (17 scans) train. The validation
room (scene0011) is never read here, so nothing chosen with this probe is tuned on it. Settings
start from configs/scannet_rooms.yaml's `stage2:` and `--set key=value` (a YAML value) overrides
one; `--pointcept-augment` adds Pointcept's ScanNet colour and coordinate augmentations to
weakseg's, `--crop` and `--mix3d` crop or overlay the scans of each step, and `--contrast-epochs`
pretrains the network without labels on the training scans first (probes only: the workflow has
none of these); `--normals` gives the network only |n_z| of the estimated normals or none (as the
workflow's `input_normals` does), or normals estimated within another radius. Prints the held-out
mIoU as the
workflow scores it (classes in truth or prediction), the mIoU over the classes in the held-out
truth only, accuracy, and the training minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
import weakseg.train  # noqa: E402
from weakseg import voxel  # noqa: E402
from weakseg.classes import SCANNET20  # noqa: E402
from weakseg.datasets import DATASETS  # noqa: E402
from weakseg.datasets._common import estimate_normals  # noqa: E402
from weakseg.metrics import confusion, scores  # noqa: E402
from weakseg.segmentation import Segmenter  # noqa: E402
from weakseg.train import Example, fit, seed_everything, to_voxels  # noqa: E402
from weakseg.voxel import network_scene  # noqa: E402

HELD_OUT_ROOMS = ("scene0008", "scene0009", "scene0010")
STAGE2_KEYS = set(yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())["$defs"]["training"]["properties"])


def _tilt(angle, axis):
    c, s = np.cos(angle), np.sin(angle)
    turn = np.eye(3, dtype=np.float32)
    i, j = [k for k in range(3) if k != axis]
    turn[i, i], turn[i, j], turn[j, i], turn[j, j] = c, -s, s, c
    return turn


def pointcept_augment(coord, normal, color, rng, elastic=()):
    """weakseg's augmentation, then what Pointcept's ScanNet config adds to it: tilts of up to
    pi/64 about x and y, coordinate jitter (sigma 5 mm, clipped at 2 cm), chromatic auto-contrast
    (p 0.2), translation (ratio 0.05) and jitter (std 0.05)."""
    coord, normal, color = voxel.augment(coord, normal, color, rng, elastic)
    turn = _tilt(rng.uniform(-np.pi / 64, np.pi / 64), 0) @ _tilt(rng.uniform(-np.pi / 64, np.pi / 64), 1)
    coord, normal = coord @ turn.T, normal @ turn.T
    coord = coord + np.clip(rng.normal(0, 0.005, coord.shape), -0.02, 0.02)
    color = color.astype(np.float32)
    if rng.random() < 0.2:
        lo, hi = color.min(0), color.max(0)
        blend = rng.random()
        color = (1 - blend) * color + blend * (color - lo) * (255 / np.maximum(hi - lo, 1))
    if rng.random() < 0.95:
        color = color + (rng.random(3) - 0.5) * 255 * 2 * 0.05
    if rng.random() < 0.95:
        color = color + rng.normal(0, 0.05 * 255, color.shape)
    return coord.astype(np.float32), normal.astype(np.float32), np.clip(color, 0, 255)


def sphere_crop(example, fraction, rng):
    """The indices (sorted) of the `fraction` of an example's points nearest to one of its points
    drawn at random: Pointcept's SphereCrop in its "random" mode, sized by a share of the scan
    because these scans are smaller than its 102,400-point crops."""
    keep = max(1, round(fraction * len(example.coord)))
    centre = example.coord[rng.integers(len(example.coord))]
    return np.sort(np.argpartition(((example.coord - centre) ** 2).sum(1), keep - 1)[:keep])


def subset(example, rows):
    return Example(example.scene_id, example.coord[rows], example.color[rows], example.normal[rows], example.target[rows])


def overlay(a, b, rng):
    """Mix3D (Nekrasov et al., "Mix3D: Out-of-Context Data Augmentation for 3D Scenes"): two
    scans as one scene, each centred in x and y with its floor at height 0, the second turned
    about z at random (the batch's augmentation then turns both together)."""
    def placed(e, turn):
        coord = e.coord - np.array([*e.coord[:, :2].mean(0), e.coord[:, 2].min()], np.float32)
        return coord @ turn.T, e.normal @ turn.T
    (ca, na), (cb, nb) = placed(a, np.eye(3, dtype=np.float32)), placed(b, _tilt(rng.uniform(0, 2 * np.pi), 2))
    return Example(a.scene_id, np.concatenate([ca, cb]).astype(np.float32), np.concatenate([a.color, b.color]),
                   np.concatenate([na, nb]).astype(np.float32), np.concatenate([a.target, b.target]))


class Augmented:
    """Stage two's learner, each step's scans first cropped (`crop`: the share kept) and, at rate
    `mix3d`, overlaid with another training scan."""

    def __init__(self, seg, crop=None, mix3d=0.0):
        self.seg, self.model, self.crop, self.mix3d = seg, seg.model, crop, mix3d

    def _scan(self, example, rng):
        return example if self.crop is None else subset(example, sphere_crop(example, self.crop, rng))

    def batches(self, examples, batch_size, rng):
        order = rng.permutation(len(examples))
        plan = []
        for start in range(0, len(order), batch_size):
            batch = []
            for i in order[start:start + batch_size]:
                scan = self._scan(examples[i], rng)
                if self.mix3d and len(examples) > 1 and rng.random() < self.mix3d:
                    other = (i + 1 + rng.integers(len(examples) - 1)) % len(examples)
                    scan = overlay(scan, self._scan(examples[other], rng), rng)
                batch.append(scan)
            plan.append(batch)
        return plan

    def loss(self, batch, rng):
        return self.seg.loss(batch, rng)


class PointContrast:
    """Pretraining without labels with PointContrast's loss (Xie et al., "PointContrast:
    Unsupervised Pre-training for 3D Point Cloud Understanding": PointInfoNCE, 4096 pairs,
    temperature 0.4 as the authors' ScanNet settings): two views of one scan, each a random crop
    of 80 % of its points augmented on its own (weakseg's turns, mirror, scale and colour jitter,
    which also lay the voxel grid differently); the decoder's last features of up to `pairs`
    points that both views hold (one a voxel), through a two-layer projection (as SimCLR; the
    paper contrasts the network's output itself), each point's view-one feature matched to its
    own view-two feature against the others'. The scans' own points stand in for the paper's
    registered pairs of RGB-D frames, which these samples do not keep."""

    def __init__(self, seg, pairs=4096, temperature=0.4):
        channels = seg.model.head.in_features
        self.seg, self.pairs, self.temperature = seg, pairs, temperature
        self.projection = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.model = nn.ModuleDict({"unet": seg.model, "projection": self.projection})

    def loss(self, batch, rng):
        total = 0
        for example in batch:
            views = [sphere_crop(example, 0.8, rng) for _ in range(2)]
            both = np.intersect1d(*views)
            voxels = to_voxels([subset(example, v) for v in views], self.seg.voxel_size, rng)
            inverse = voxels.inverse.numpy()
            first, second = inverse[np.searchsorted(views[0], both)], inverse[len(views[0]) + np.searchsorted(views[1], both)]
            # One pair per voxel of either view: points sharing a voxel share its feature and
            # must not be each other's negatives.
            _, once = np.unique(first, return_index=True)
            _, again = np.unique(second[once], return_index=True)
            chosen = once[again]
            chosen = chosen[rng.permutation(len(chosen))[:self.pairs]]
            _, features = self.seg.model(voxels.to(self.seg.device), with_features=True)
            a = F.normalize(self.projection(features[torch.from_numpy(first[chosen])]), dim=1)
            b = F.normalize(self.projection(features[torch.from_numpy(second[chosen])]), dim=1)
            total = total + F.cross_entropy(a @ b.T / self.temperature, torch.arange(len(chosen)))
        return total / len(batch)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/scannet_rooms")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, help="append the result as one JSON line")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pretrain-scenes", type=int, default=0, metavar="N",
                   help="first train on N synthetic scenes (config.yaml's generator, fully labelled)")
    p.add_argument("--pretrain-epochs", type=int, default=20, metavar="E")
    p.add_argument("--pointcept-augment", action="store_true", help="add Pointcept's ScanNet augmentations")
    p.add_argument("--crop", type=float, metavar="SHARE", help="train on a random sphere crop of this share of each scan")
    p.add_argument("--mix3d", type=float, default=0.0, metavar="RATE",
                   help="overlay another training scan at this rate (Mix3D; Pointcept's ScanNet configs: 0.8)")
    p.add_argument("--contrast-epochs", type=int, default=0, metavar="E",
                   help="first pretrain E epochs without labels on the training scans (PointContrast's loss)")
    p.add_argument("--normals", default="estimated", metavar="none|vertical|RADIUS",
                   help="the scans carry no normals and the reader estimates them (Open3D, 10 cm, oriented "
                        "toward the room's centre): 'none' gives the network zeros instead, 'vertical' "
                        "only |n_z| (how horizontal a surface is, whatever the normal's sign), a number "
                        "re-estimates them within that radius (metres)")
    a = p.parse_args()
    if a.normals not in ("estimated", "none", "vertical"):
        try:
            radius = float(a.normals)
        except ValueError:
            radius = 0.0
        if not radius > 0:
            p.error(f"--normals {a.normals}: 'none', 'vertical' or a radius in metres above 0")
    if a.crop is not None and not 0 < a.crop <= 1:
        p.error(f"--crop {a.crop}: a share of the scan, in (0, 1]")
    if not 0 <= a.mix3d <= 1:
        p.error(f"--mix3d {a.mix3d}: a rate, in [0, 1]")
    if a.pointcept_augment:
        weakseg.train.augment = pointcept_augment  # what to_voxels calls in training
    settings = {**yaml.safe_load((ROOT / "configs/scannet_rooms.yaml").read_text())["stage2"], "seed": 0}
    for item in a.set:
        key, _, value = item.partition("=")
        if key not in settings and key not in STAGE2_KEYS:
            p.error(f"--set {key}: not a stage-two setting ({', '.join(sorted({*settings, *STAGE2_KEYS}))})")
        settings[key] = yaml.safe_load(value)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(a.threads)
    seed_everything(settings["seed"])

    reader = DATASETS.get("scannet_pointcept")({"root": str(a.data)})

    def load(scene_id):
        scene = reader.load(scene_id)
        if a.normals in ("estimated", "none", "vertical"):
            return network_scene(scene, {"estimated": "signed"}.get(a.normals, a.normals))
        return dataclasses.replace(scene, normal=estimate_normals(scene.coord, float(a.normals)))

    train_ids = sorted(s for s, info in reader.scenes().items() if info["split"] == "train")
    held_out = [s for s in train_ids if s.startswith(HELD_OUT_ROOMS)]
    fit_ids = [s for s in train_ids if s not in held_out]
    seg = Segmenter(len(SCANNET20), settings, "cpu")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # a fresh run every time: no checkpoint to resume
        if a.pretrain_scenes:
            # Synthetic rooms cost nothing to label and hold every class the real rooms lack
            # in number (beds, sofas, sinks): does the network carry what it learns there over?
            synthetic = {**yaml.safe_load((ROOT / "config.yaml").read_text())["dataset"],
                         "num_train": a.pretrain_scenes, "num_val": 1}
            generator = DATASETS.get("synthetic")(synthetic)
            ids = sorted(s for s, info in generator.scenes().items() if info["split"] == "train")
            synthetic_examples = [seg.example(scene, scene.label) for scene in map(generator.load, ids)]
            seg.balance(synthetic_examples)
            fit(seg, synthetic_examples, {**settings, "epochs": a.pretrain_epochs}, Path(tmp) / "pretrain.ckpt", desc="pretrain")
        examples = [seg.example(scene, scene.label) for scene in map(load, fit_ids)]
        if a.contrast_epochs:
            fit(PointContrast(seg), examples, {**settings, "epochs": a.contrast_epochs}, Path(tmp) / "contrast.ckpt", desc="contrast")
        seg.balance(examples)
        fit(Augmented(seg, a.crop, a.mix3d), examples, settings, Path(tmp) / "probe.ckpt", desc="probe")
    minutes = (time.perf_counter() - t0) / 60

    def score(ids):
        conf = 0
        for scene in map(load, ids):
            conf = conf + confusion(scene.label, seg.predict(scene).argmax(1), len(SCANNET20))
        result = scores(np.asarray(conf), SCANNET20)
        in_truth = np.asarray(conf).sum(1) > 0
        ious = np.array([np.nan if v is None else v for v in result["iou"].values()])
        return result["miou"], float(np.nanmean(ious[in_truth])), result["accuracy"], result["iou"]

    held = score(held_out)
    fitted = score(fit_ids[::4])  # a quarter of the training scans: how well it fits
    row = {"settings": settings, "overrides": a.set, "pointcept_augment": a.pointcept_augment, "crop": a.crop, "mix3d": a.mix3d,
           "contrast_epochs": a.contrast_epochs, "normals": a.normals, "train_minutes": round(minutes, 1),
           "pretrain": {"synthetic_scenes": a.pretrain_scenes, "epochs": a.pretrain_epochs} if a.pretrain_scenes else None,
           "held_out_miou": round(100 * held[0], 1), "held_out_miou_truth_classes": round(100 * held[1], 1),
           "held_out_accuracy": round(100 * held[2], 1), "fit_miou": round(100 * fitted[0], 1),
           "held_out_iou": {k: (None if v is None else round(100 * v, 1)) for k, v in held[3].items()}}
    print(json.dumps(row))
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
