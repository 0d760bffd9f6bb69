"""How cleanly the prior-based augmentation removes floors and walls from the generator's rooms.

For every room type and seed, each prior class the room has is dropped alone (rate 1) and the
removal is scored against the ground truth, which the augmentation itself never reads: "clean"
when under 5 % of the class is left and most of what goes is the class, "kept" when no plane is
found (nothing removed, tag kept), "dirty" otherwise. Two readings of "the layer" are compared:
the papers' (the layer with the most points in the strip) and weakseg's (the plane nearest the
box's side, `weakseg.prior_drop.side_layer`).

    .venv/bin/python bench/probe_prior_drop.py [--seeds 40]
"""

import argparse
import math
from collections import Counter

import numpy as np

import weakseg.prior_drop as prior_drop
from weakseg.datasets import synthetic
from weakseg.datasets.synthetic_plan import ROOM_TYPES

SCAN = dict(width=96, height=72, num_frames=6, room_scale=0.6)  # the tests' small rooms


def densest_layer(coord, side, depth=prior_drop.DEPTH, bin_size=prior_drop.BIN, margin=prior_drop.MARGIN):
    """The papers' reading: the layer with the most points, if it is a plane against the mean."""
    distance = prior_drop._distance_to_side(coord, side)
    near = distance < depth
    if not near.any():
        return np.zeros(len(coord), bool)
    counts = np.bincount((distance[near] / bin_size).astype(np.int64), minlength=math.ceil(depth / bin_size))
    densest = int(np.argmax(counts))
    if counts[densest] < prior_drop.PEAK * counts.mean():
        return np.zeros(len(coord), bool)
    return distance < (densest + 1) * bin_size + margin


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    args = parser.parse_args()
    readings = {"densest layer (papers)": densest_layer, "nearest plane (weakseg)": prior_drop.side_layer}
    outcome = {name: Counter() for name in readings}
    for seed in range(args.seeds):
        for i, room_type in enumerate(ROOM_TYPES):
            scene = synthetic.generate_scene(f"probe_{seed}_{i}", room_type, "train", 7 * seed + i, **SCAN)
            tags = np.zeros(len(scene.class_names), np.float32)
            tags[np.unique(scene.label)] = 1
            for reading, layer in readings.items():
                prior_drop.side_layer = layer  # drop_prior_regions looks it up at call time
                for name, cls in prior_drop.prior_class_ids(scene.class_names).items():
                    members = scene.label == cls
                    if not members.any():
                        continue
                    keep, out = prior_drop.drop_prior_regions(scene.coord, tags, {name: cls}, 1.0,
                                                              np.random.default_rng(0))
                    if out[cls]:
                        outcome[reading]["kept"] += 1
                    elif keep[members].mean() < 0.05 and members[~keep].mean() > 0.5:
                        outcome[reading]["clean"] += 1
                    else:
                        outcome[reading]["dirty"] += 1
    print("| reading | clean | kept (no plane) | dirty |\n|---|---|---|---|")
    for reading, counts in outcome.items():
        print(f"| {reading} | {counts['clean']} | {counts['kept']} | {counts['dirty']} |")


if __name__ == "__main__":
    main()
