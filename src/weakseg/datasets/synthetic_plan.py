"""The synthetic dataset's scenes: which exist (cheap, at DAG parse time) and how each is made.

Pure Python: the generator (numpy, Open3D) is imported only when a scene is built.
"""

import re

from . import DATASETS
from ..errors import WeaksegError

ROOM_TYPES = ("bedroom", "office", "living_room", "bathroom", "kitchen", "conference_room")
# Share of each room type; with the generator's per-type presence probabilities it gives
# ScanNet-like scene-presence frequencies per class (MPRM's table of class presence).
ROOM_MIX = (0.20, 0.20, 0.17, 0.17, 0.15, 0.11)
_SPLIT_BASE = {"train": 0, "val": 500_000}


def room_sequence(count):
    """The first `count` room types of one fixed sequence that keeps every prefix as close to
    ROOM_MIX as possible (largest deficit next). The first six are all different, and a longer
    split extends a shorter one instead of reshuffling it."""
    made = [0] * len(ROOM_TYPES)
    types = []
    for i in range(count):
        k = max(range(len(ROOM_TYPES)), key=lambda t: ROOM_MIX[t] * (i + 1) - made[t])
        made[k] += 1
        types.append(ROOM_TYPES[k])
    return types


def synthetic_plan(num_train, num_val, seed):
    """scene id -> {"room_type", "split", "seed"} for the synthetic dataset.

    Train and validation scenes are numbered separately and a scene's seed depends only on
    (seed, split, index), so adding scenes leaves the existing ones unchanged (and cached).
    """
    plan = {}
    for split, count in (("train", num_train), ("val", num_val)):
        for i, room_type in enumerate(room_sequence(count)):
            plan[f"synth_{split}_{i:04d}"] = {"room_type": room_type, "split": split, "seed": _scene_seed(seed, split, i)}
    return plan


def _scene_seed(seed, split, index):
    return (seed * 1_000_003 + _SPLIT_BASE[split] + index) % 2**31


@DATASETS.register("synthetic")
class SyntheticDataset:
    """Rooms generated from a seed (datasets/synthetic.py). Settings: `seed`, `num_train`,
    `num_val` and the simulated sensor `scan` (docs/CONFIGURATION.md)."""

    # Settings that only decide which scenes exist: a scene's own job does not depend on them,
    # so adding scenes reruns nothing that exists.
    listing_keys = ("num_train", "num_val")
    label_set = "scannet20"

    def __init__(self, settings):
        self.settings = settings

    def scenes(self):
        s = self.settings
        return {scene_id: {"split": p["split"], "labelled": True, "frames": True, "sources": []}
                for scene_id, p in synthetic_plan(s["num_train"], s["num_val"], s["seed"]).items()}

    def load(self, scene_id):
        from .synthetic import generate_scene

        match = re.fullmatch(r"synth_(train|val)_(\d{4})", scene_id)
        if not match:
            raise WeaksegError(scene_id, "not a synthetic scene id (synth_<train|val>_<NNNN>)")
        split, index = match[1], int(match[2])
        room_type = room_sequence(index + 1)[-1]
        return generate_scene(scene_id, room_type, split, _scene_seed(self.settings["seed"], split, index), **self.settings["scan"])
