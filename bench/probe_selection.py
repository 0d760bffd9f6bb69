"""How One Thing One Click's confidence selection trades coverage for label quality.

Reads one round's stage-one pseudo labels of a finished run (the networks' probabilities and
per-supervoxel features), propagates them as the `energy_propagation` refiner does (its
defaults), and scores against the ground truth, which the method never reads, the labels that
each selection rule keeps: the paper's Eq. 8 (a supervoxel kept when exp(-C_j) >= T) and
class-balanced self-training's per-class portions (Zou et al., "Unsupervised Domain Adaptation
for Semantic Segmentation via Class-Balanced Self-Training", ECCV 2018: each class keeps at
least its most confident share p of supervoxels, over the whole training set or per scene).
Clicked supervoxels are always kept, as the refiner keeps them. Trains nothing:

    .venv/bin/python bench/probe_selection.py results/synthetic --experiment clicks --round 1
"""

import argparse
from pathlib import Path

import numpy as np

from weakseg.classes import class_names
from weakseg.io import read_geometry, read_json, read_labels, read_scene
from weakseg.metrics import confusion, scores
from weakseg.refine.energy import EnergyPropagation, supervoxel_confidence
from weakseg.refine.supervoxels import _supervoxel_votes

REPORTED = ("wall", "door", "window", "picture", "bed", "sofa")


def propagated_supervoxels(scene, weak, stage1, geometry):
    """Per supervoxel of one scene, after propagation: its label (clicks win), Eq. 8's exp(-C_j),
    and whether it holds a click."""
    prob = EnergyPropagation()(scene, weak, stage1.prob, geometry, stage1.features)
    sv = geometry["supervoxel"].astype(np.int64)
    s = len(geometry["sv_size"])
    label, confidence = supervoxel_confidence(prob, sv, s)
    clicks, points, _ = _supervoxel_votes(weak, np.zeros_like(prob), sv, s)
    clicked = np.zeros(s, bool)
    clicked[sv[points]] = True
    return np.where(clicked, clicks.argmax(1), label), confidence, clicked


def portion_thresholds(label, confidence, num_classes, portion):
    """Per class, the confidence above which its most confident `portion` of supervoxels lie."""
    out = np.ones(num_classes)
    for c in np.unique(label):
        out[c] = np.quantile(confidence[label == c], 1 - portion)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results directory (results/<dataset name>)")
    parser.add_argument("--experiment", default="clicks")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.9, help="Eq. 8's T")
    parser.add_argument("--portions", type=float, nargs="+", default=[0.2, 0.35, 0.5])
    parser.add_argument("--label-set", default="scannet20")
    a = parser.parse_args()
    names = list(class_names(a.label_set))
    store = a.results / a.experiment / "stage1" / f"round{a.round}" / "pseudo.zarr"
    scenes = []
    for group in sorted(p for p in store.iterdir() if p.is_dir()):
        scene = read_scene(a.results / "scenes" / f"{group.name}.h5")
        geometry = read_geometry(a.results / "pre" / "geometry" / f"{group.name}.h5")
        weak = read_json(a.results / a.experiment / "weak" / f"{group.name}.json")
        scenes.append((scene.label, geometry["supervoxel"].astype(np.int64),
                       *propagated_supervoxels(scene, weak, read_labels(group), geometry)))
    every_label = np.concatenate([s[2] for s in scenes])
    every_confidence = np.concatenate([s[3] for s in scenes])

    def score(rule, keep_of):
        matrix, covered, total, per_class = 0, 0, 0, np.zeros((2, len(names)))
        for truth, sv, label, confidence, clicked in scenes:
            point = np.where((keep_of(label, confidence) | clicked)[sv], label[sv], -1)
            known = truth >= 0
            matrix = matrix + confusion(truth[known], point[known], len(names))
            covered += (point[known] >= 0).sum()
            total += known.sum()
            per_class += [np.bincount(truth[known & (point >= 0)], minlength=len(names)),
                          np.bincount(truth[known], minlength=len(names))]
        shares = " ".join(f"{n} {per_class[0][names.index(n)] / max(per_class[1][names.index(n)], 1):.0%}" for n in REPORTED)
        print(f"{rule:34s} coverage {covered / total:6.1%}  mIoU {100 * scores(matrix, names)['miou']:5.1f}   covered: {shares}")

    print(f"{len(scenes)} scenes, round {a.round} of {a.experiment}, after energy propagation")
    score(f"Eq. 8, T = {a.threshold}", lambda label, confidence: confidence >= a.threshold)
    for p in a.portions:
        k = portion_thresholds(every_label, every_confidence, len(names), p)
        score(f"+ top {p:.0%} of each class, all scenes", lambda label, confidence, k=k: confidence >= np.minimum(a.threshold, k[label]))
    for p in a.portions:
        score(f"+ top {p:.0%} of each class, per scene",
              lambda label, confidence, p=p: confidence >= np.minimum(a.threshold, portion_thresholds(label, confidence, len(names), p)[label]))


if __name__ == "__main__":
    main()
