"""What limits the fully supervised bound on the real rooms: train stage two's network on a split
of the training rooms and score the rooms held out, one setting changed at a time.

    python bench/probe_real_bound.py [--set voxel_size=0.03 --set epochs=80 ...] [--pretrain-scenes 32]
                                     [--pointcept-augment] [--out probe.json]

The training scans of ../shared/data/scannet_rooms are split by room: the last three rooms by id
(scene0008-scene0010, 6 scans) are held out, the other 8 rooms (17 scans) train. The validation
room (scene0011) is never read here, so nothing chosen with this probe is tuned on it. Settings
start from configs/scannet_rooms.yaml's `stage2:` and `--set key=value` (a YAML value) overrides
one; `--pointcept-augment` adds Pointcept's ScanNet colour and coordinate augmentations to
weakseg's (a probe only: the workflow does not have them). Prints the held-out mIoU as the
workflow scores it (classes in truth or prediction), the mIoU over the classes in the held-out
truth only, accuracy, and the training minutes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
import weakseg.train  # noqa: E402
from weakseg import voxel  # noqa: E402
from weakseg.classes import SCANNET20  # noqa: E402
from weakseg.datasets import DATASETS  # noqa: E402
from weakseg.metrics import confusion, scores  # noqa: E402
from weakseg.segmentation import Segmenter  # noqa: E402
from weakseg.train import fit, seed_everything  # noqa: E402

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
    a = p.parse_args()
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
        examples = [seg.example(scene, scene.label) for scene in map(reader.load, fit_ids)]
        seg.balance(examples)
        fit(seg, examples, settings, Path(tmp) / "probe.ckpt", desc="probe")
    minutes = (time.perf_counter() - t0) / 60

    def score(ids):
        conf = 0
        for scene in map(reader.load, ids):
            conf = conf + confusion(scene.label, seg.predict(scene).argmax(1), len(SCANNET20))
        result = scores(np.asarray(conf), SCANNET20)
        in_truth = np.asarray(conf).sum(1) > 0
        ious = np.array([np.nan if v is None else v for v in result["iou"].values()])
        return result["miou"], float(np.nanmean(ious[in_truth])), result["accuracy"], result["iou"]

    held = score(held_out)
    fitted = score(fit_ids[::4])  # a quarter of the training scans: how well it fits
    row = {"settings": settings, "overrides": a.set, "pointcept_augment": a.pointcept_augment, "train_minutes": round(minutes, 1),
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
