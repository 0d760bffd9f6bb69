"""Where scene tags fail: does a scene-tag network know which classes a scene holds, and does its
class activation point at them?

For a finished run's stage-one network of a scene-tag experiment (`densify` or `mprm`), on the
validation scenes (never trained on; `--split train`: the scenes it made pseudo labels of), per
class:
- tag AP: the average precision of the scene-level score (per-point class scores pooled over the
  scene, as the method's loss pools them) at telling the scenes that hold the class from those
  that do not (scikit-learn's average_precision_score);
- tag AP without it: the same, with the class's points taken out of the scenes that hold it
  (as high as the tag AP: the network tells those scenes by what surrounds the class);
- peak precision: in the scenes that hold the class, the share of the class among as many of
  the scene's points as the class has, taken by descending class score (R-precision: 100 % is
  a score that ranks the class's points first), beside the class's share of those scenes'
  points (what a score that knows nothing gives).
A class can be recognised (high AP) yet not localised (peak precision near its share): the
network then knows *which* scenes, not *where*. Reads the ground truth, which the methods never
do; trains nothing:

    .venv/bin/python bench/probe_tag_localisation.py results/synthetic --experiment densify \
        --configfile config.yaml configs/benchmark.yaml
"""

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml
from sklearn.metrics import average_precision_score
from snakemake.utils import update_config

from weakseg.classes import class_names
from weakseg.config import rounds
from weakseg.io import read_scene
from weakseg.methods import METHODS
from weakseg.models.sparse import parent_rows
from weakseg.train import Example, load_model, to_voxels


def merged_config(files):
    """The config the run read, merged by Snakemake's own rule for several --configfile."""
    config = {}
    for f in files:
        update_config(config, yaml.safe_load(Path(f).read_text()))
    return config


@torch.no_grad()
def point_and_scene_scores(method, name, scene, keep=slice(None)):
    """(N, C) per-point class scores and (C,) the pooled score of the scene's points `keep`, one
    view, no augmentation."""
    example = Example(scene.scene_id, scene.coord[keep], scene.color[keep], scene.normal[keep], None)
    batch = to_voxels([example], method.voxel_size, rng=None).to(method.device)
    method.model.eval()
    if name == "densify":  # Eq. 2: the linear classifier on the point features, pooled by the mean
        logits = method.model(batch)[batch.inverse]
        return logits.numpy(), logits.mean(0).numpy()
    cams, coarse, fine = method.model(batch)  # MPRM: each path's CAM on the coarse voxels, pooled there
    mean_cam = torch.stack(list(cams.values())).mean(0)
    points = mean_cam[parent_rows(fine, coarse, method.factor)][batch.inverse]
    return points.numpy(), mean_cam.mean(0).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results directory (results/<dataset name>)")
    parser.add_argument("--experiment", default="densify")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--split", default="val", choices=("train", "val"))
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"], help="the config files of the run, in order")
    a = parser.parse_args()
    config = merged_config(a.configfile)
    settings = {"seed": config["seed"], "device": "cpu", **rounds(config["experiments"][a.experiment])[a.round - 1]}
    name = settings["method"]
    if name not in ("densify", "mprm"):
        parser.error(f"{a.experiment} runs {name}: the probe reads densify and mprm networks")
    names = list(class_names(config["dataset"].get("label_set", "scannet20")))
    torch.set_num_threads(1)
    method = METHODS.get(name)(len(names), settings, "cpu")
    load_model(a.results / a.experiment / "stage1" / f"round{a.round}" / "model.pt", method)

    present, pooled, pooled_without = [], [], []
    hits, chance = np.zeros((2, len(names))), np.zeros((2, len(names)))
    for path in sorted((a.results / "scenes").glob("*.h5")):
        scene = read_scene(path)
        if scene.split != a.split:
            continue
        scores, scene_score = point_and_scene_scores(method, name, scene)
        labelled = scene.label >= 0
        counts = np.bincount(scene.label[labelled], minlength=len(names))
        present.append(counts > 0)
        pooled.append(scene_score)
        pooled_without.append(scene_score.copy())
        for c in np.flatnonzero(counts):
            if counts[c] < labelled.sum():
                pooled_without[-1][c] = point_and_scene_scores(method, name, scene, scene.label != c)[1][c]
            peak = np.argsort(-scores[labelled, c], kind="stable")[:counts[c]]
            hits[:, c] += [(scene.label[labelled][peak] == c).sum(), counts[c]]
            chance[:, c] += [counts[c], labelled.sum()]
    present, pooled, pooled_without = np.array(present), np.array(pooled), np.array(pooled_without)
    print(f"{a.experiment} (round {a.round}, {name}), {len(present)} {a.split} scenes")
    print(f"{'class':15s} {'scenes':>6s} {'tag AP':>7s} {'without it':>10s} {'peak prec.':>10s} {'share':>6s}")
    aps, aps_without, precisions, lifts = [], [], [], []
    for c, n in enumerate(names):
        k = int(present[:, c].sum())
        if k == 0:
            continue
        ap, ap_without = (average_precision_score(present[:, c], p[:, c]) if k < len(present) else float("nan")
                          for p in (pooled, pooled_without))
        precision, share = hits[0, c] / hits[1, c], chance[0, c] / chance[1, c]
        if k < len(present):
            aps.append(ap)
            aps_without.append(ap_without)
            precisions.append(precision)
        lifts.append(precision / share)
        print(f"{n:15s} {k:6d} {ap:7.2f} {ap_without:10.2f} {precision:10.1%} {share:6.1%}")
    if aps:  # none when every class present is in every scene (a split of one room)
        print(f"classes not in every scene: mean tag AP {np.mean(aps):.2f}, without the class's points "
              f"{np.mean(aps_without):.2f}, mean peak precision {np.mean(precisions):.1%}")
    print(f"all classes: median peak precision / share {np.median(lifts):.1f}x")


if __name__ == "__main__":
    main()
