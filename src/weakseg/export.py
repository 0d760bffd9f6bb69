"""Coloured PLYs of one scene, to look at in CloudCompare or MeshLab.

One folder per experiment and scene (`export/<exp>/<scene>/`), written at once (a killed job
leaves no folder behind):
- `input.ply`: the scan's own colours;
- `ground_truth.ply`: the true labels (scenes that have ground truth);
- `<stage>.ply`: the labels each stage gave the scene, named as its metrics are
  (`stage1_round<r>`, `refined_round<r>`, `stage2`);
- `error.ply`: the final prediction against the ground truth (scenes that have it): correct,
  wrong, and not scored (no ground truth there, or no label given: what evaluation leaves out).
Labels are drawn in the class table's palette (weakseg.classes), unlabelled points (-1) in
UNLABELLED_COLOR.
"""

from __future__ import annotations

import numpy as np

from .classes import IGNORE, UNLABELLED_COLOR, palette
from .errors import WeaksegError
from .io import atomic_dir, write_colored_ply

CORRECT_COLOR = (0, 200, 0)
WRONG_COLOR = (230, 20, 20)
NOT_SCORED_COLOR = UNLABELLED_COLOR
ERROR_COLORS = {"correct": CORRECT_COLOR, "wrong": WRONG_COLOR, "not scored": NOT_SCORED_COLOR}


def label_colors(labels, colors):
    """(N, 3) uint8: each point's class colour, UNLABELLED_COLOR where the label is -1."""
    labels = np.asarray(labels)
    table = np.array([*colors, UNLABELLED_COLOR], np.uint8)  # -1 indexes the last row
    return table[np.where(labels == IGNORE, -1, labels)]


def error_colors(truth, pred):
    """(N, 3) uint8: correct, wrong, or not scored (truth or prediction -1), as evaluation counts them."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    out = np.empty((len(truth), 3), np.uint8)
    out[:] = NOT_SCORED_COLOR
    scored = (truth != IGNORE) & (pred != IGNORE)
    out[scored & (truth == pred)] = CORRECT_COLOR
    out[scored & (truth != pred)] = WRONG_COLOR
    return out


def export_scene(scene, labels, final, out_dir, where="<scene>"):
    """Write one scene's PLYs into `out_dir` (replacing it). `labels`: {stage name: (N,) labels}
    in pipeline order; `final`: the name among them whose errors `error.ply` shows (None: none).
    `where` names the scene's file in errors."""
    colors = palette(scene.class_names)
    if colors is None:
        raise WeaksegError(where, f"no palette for the class table {list(scene.class_names)} (known: scannet20, s3dis13)")
    if final is not None and final not in labels:
        raise WeaksegError(where, f"the final labels {final!r} are not among those given ({', '.join(labels) or 'none'})")
    for name, values in labels.items():
        if len(values) != scene.num_points:
            raise WeaksegError(where, f"{len(values)} {name} labels for a scene of {scene.num_points} points")
        if np.max(values, initial=IGNORE) >= len(colors) or np.min(values, initial=IGNORE) < IGNORE:
            raise WeaksegError(where, f"{name} labels outside -1..{len(colors) - 1}")
    clouds = {"input": scene.color}
    if scene.labelled:
        clouds["ground_truth"] = label_colors(scene.label, colors)
    clouds.update((name, label_colors(values, colors)) for name, values in labels.items())
    if final is not None and scene.labelled:
        clouds["error"] = error_colors(scene.label, labels[final])
    with atomic_dir(out_dir) as tmp:
        for name, color in clouds.items():
            write_colored_ply(tmp / f"{name}.ply", scene.coord, color, comment=f"weakseg {scene.scene_id} {name}")
    return sorted(clouds)
