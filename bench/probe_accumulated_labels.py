"""Would keeping every round's selected labels change what the next round learns from?

One Thing One Click's paper replaces a round's labels with the next round's confident
predictions (Algorithm 1, line 6). Its authors' later code instead keeps each supervoxel once it
has been selected, with its first label. This reads a finished run's refined labels of every
round and scores against the ground truth (which the method never reads) each round's labels
alone and their union, the earliest round's label winning, then the latest's. Trains nothing:

    .venv/bin/python bench/probe_accumulated_labels.py results/synthetic --experiment clicks --rounds 2
"""

import argparse
from pathlib import Path

import numpy as np

from weakseg.classes import class_names
from weakseg.io import read_labels, read_scene
from weakseg.metrics import confusion, scores


def union(labels, earliest_wins):
    out = labels[0].copy()
    for later in labels[1:]:
        out = np.where(out >= 0, out, later) if earliest_wins else np.where(later >= 0, later, out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results directory (results/<dataset name>)")
    parser.add_argument("--experiment", default="clicks")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--label-set", default="scannet20")
    a = parser.parse_args()
    names = list(class_names(a.label_set))
    stores = [a.results / a.experiment / "refined" / f"round{r}" / "pseudo.zarr" for r in range(1, a.rounds + 1)]
    rows = [f"round {r}" for r in range(1, a.rounds + 1)] + ["union, earliest label wins", "union, latest label wins"]
    matrix, covered, total = dict.fromkeys(rows, 0), dict.fromkeys(rows, 0), 0
    for group in sorted(p for p in stores[0].iterdir() if p.is_dir()):
        truth = read_scene(a.results / "scenes" / f"{group.name}.h5").label
        labels = [read_labels(store / group.name).label.astype(np.int64) for store in stores]
        known = truth >= 0
        total += known.sum()
        for row, label in zip(rows, labels + [union(labels, True), union(labels, False)]):
            kept = known & (label >= 0)
            matrix[row] = matrix[row] + confusion(truth[kept], label[kept], len(names))
            covered[row] += kept.sum()
    print(f"refined labels of {a.experiment}'s training scenes")
    for row in rows:
        print(f"{row:28s} coverage {covered[row] / total:6.1%}  mIoU {100 * scores(matrix[row], names)['miou']:5.1f}")


if __name__ == "__main__":
    main()
