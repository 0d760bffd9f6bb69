"""How much of a scene One Thing One Click's round-0 labels cover, by supervoxel partition.

Every click labels its whole supervoxel (`weakseg.methods.otoc.expand_to_supervoxels`); this
scores those labels against the ground truth, which the method never reads, for each partition
`weakseg.preprocess` offers on the scenes (each with its default settings): coverage (share of annotated points labelled),
accuracy on the covered points, and per class the share covered and the share covered with the
right class. It reads a run's scenes and click records in place and trains nothing:

    .venv/bin/python bench/probe_round0_labels.py results/synthetic --experiment clicks --scenes 12
"""

import argparse
from pathlib import Path

import numpy as np

from weakseg.classes import class_names
from weakseg.io import read_json, read_scene
from weakseg.methods.otoc import expand_to_supervoxels
from weakseg.preprocess import SUPERVOXEL_METHODS, geometry


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results directory (results/<dataset name>)")
    parser.add_argument("--experiment", default="clicks", help="the experiment whose click records to read")
    parser.add_argument("--scenes", type=int, default=12, help="the first this many training scenes")
    parser.add_argument("--label-set", default="scannet20")
    parser.add_argument("--methods", nargs="+", default=[m for m in SUPERVOXEL_METHODS if m != "mesh_segments"])
    a = parser.parse_args()
    names = class_names(a.label_set)
    weak_files = sorted((a.results / a.experiment / "weak").glob("*.json"))
    weak_files = [w for w in weak_files if read_json(w).get("kind") == "clicks"][:a.scenes]
    scenes = [(read_scene(a.results / "scenes" / f"{w.stem}.h5"), read_json(w)) for w in weak_files]
    print(f"{len(scenes)} scenes, {sum(len(w['points']) for _, w in scenes)} clicks")
    table = {}
    for method in a.methods:
        total, covered, right, segments = np.zeros(len(names)), np.zeros(len(names)), np.zeros(len(names)), []
        for scene, weak in scenes:
            sv = geometry(scene, {"method": method})["supervoxel"].astype(np.int64)
            segments.append(sv.max() + 1)
            label = expand_to_supervoxels(weak, sv, int(sv.max()) + 1, len(names))
            truth = scene.label
            known = truth >= 0
            total += np.bincount(truth[known], minlength=len(names))
            covered += np.bincount(truth[known & (label >= 0)], minlength=len(names))
            right += np.bincount(truth[known & (label == truth)], minlength=len(names))
        table[method] = (covered, right)
        print(f"{method}: {np.mean(segments):.0f} segments a scene, coverage {covered.sum() / total.sum():.1%}, "
              f"accuracy on covered {right.sum() / max(covered.sum(), 1):.1%}")
    print("\nper class, covered / right (% of the class's points):")
    print(f"{'class':16s}" + "".join(f"{m:>22s}" for m in table))
    for c, name in enumerate(names):
        if total[c]:
            print(f"{name:16s}" + "".join(f"{100 * cov[c] / total[c]:>14.0f} / {100 * ok[c] / total[c]:>3.0f}  "
                                         for cov, ok in table.values()))


if __name__ == "__main__":
    main()
