"""Weak labels: simulated from a scene's ground truth, or given by the user, with their cost.

Every kind is a JSON object with `kind`, `scene_id`, `tags` (the classes the annotation reveals:
all a tag-level method needs) and `annotation_seconds`, plus what the kind adds:

- `scene_tags`: the classes present in the scene (MPRM, ../shared/papers/mprm.txt).
- `subcloud_tags`: `radius` and `subclouds`, a list of {"center": [x, y, z], "tags": [...]}:
  seeds on a regular grid with n = ceil(l / r) per axis over the scene's extent l, each ball of
  radius r labelled with the classes inside it (MPRM, r = 2 m). Balls with no annotated point
  are not shown to the annotator.
- `clicks`: `points` and `labels`: one random point of every annotated instance (One Thing One
  Click, ../shared/papers/otoc.txt).
- `point_fraction`: `points` and `labels`: a share of each class's points (`fraction`, as in
  DSP's 0.1/1/10 %) or a number of points per scene (`points`, as the data-efficient
  benchmark's 20/50/100/200), drawn uniformly among the annotated points.

Simulation is deterministic: the generator is seeded from (seed, scene id).
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from .classes import IGNORE
from .errors import WeaksegError

# Annotator time, from the papers' own estimates:
SCENE_TAG_SECONDS = 15.0  # MPRM and OTOC: about 15 s to list a scene's classes
SUBCLOUD_SECONDS = 180.0 / 18.4  # MPRM: under 3 min for the 18.4 sub-clouds of a ScanNet scene
CLICK_SECONDS = 120.0 / 19.74  # OTOC: under 2 min for the 19.74 clicks of a ScanNet scene
FULL_LABEL_SECONDS = 22.3 * 60  # ScanNet's annotation statistics (via MPRM and OTOC)


def _record(kind, scene, tags, seconds, **extra):
    tags = sorted({int(t) for t in tags})
    return {"kind": kind, "scene_id": scene.scene_id, "tags": tags,
            "tag_names": [scene.class_names[c] for c in tags], "annotation_seconds": float(seconds), **extra}


def _rng(seed, scene):
    return np.random.default_rng([seed, zlib.crc32(scene.scene_id.encode())])


def scene_tags(scene, seed):
    present = np.unique(scene.label[scene.label != IGNORE])
    return _record("scene_tags", scene, present, SCENE_TAG_SECONDS)


def subcloud_seeds(coord, radius):
    """Seeds on a grid with n = ceil(l / r) per axis, centred in the scene's bounding box."""
    lo, hi = coord.min(0).astype(np.float64), coord.max(0).astype(np.float64)
    axes = []
    for a in range(3):
        n = max(1, math.ceil((hi[a] - lo[a]) / radius))
        step = (hi[a] - lo[a]) / n
        axes.append(lo[a] + step * (np.arange(n) + 0.5))
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def subcloud_members(coord, centers, radius):
    """(point index, sub-cloud index) pairs of the points within `radius` of each centre."""
    from scipy.spatial import cKDTree

    balls = cKDTree(coord).query_ball_point(np.asarray(centers, np.float64), r=radius)
    points = np.concatenate([np.asarray(b, np.int64) for b in balls]) if len(balls) else np.zeros(0, np.int64)
    which = np.repeat(np.arange(len(balls)), [len(b) for b in balls])
    return points, which


def subcloud_tags(scene, seed, radius=2.0):
    centers = subcloud_seeds(scene.coord, radius)
    points, which = subcloud_members(scene.coord, centers, radius)
    label = scene.label[points]
    subclouds = []
    for s, center in enumerate(centers):
        inside = label[(which == s) & (label != IGNORE)]
        if len(inside):
            subclouds.append({"center": [round(float(x), 4) for x in center], "tags": sorted({int(c) for c in inside})})
    tags = {t for s in subclouds for t in s["tags"]}
    return _record("subcloud_tags", scene, tags, SUBCLOUD_SECONDS * len(subclouds), radius=radius, subclouds=subclouds)


def clicks(scene, seed):
    rng = _rng(seed, scene)
    annotated = (scene.label != IGNORE) & (scene.instance >= 0)
    if not annotated.any():
        raise WeaksegError(scene.scene_id, "clicks need instances, and no annotated point of this scene has one")
    idx = np.flatnonzero(annotated)
    # one uniformly random point per instance: shuffle, then the first occurrence of each
    idx = idx[rng.permutation(len(idx))]
    _, first = np.unique(scene.instance[idx], return_index=True)
    points = np.sort(idx[first])
    labels = scene.label[points]
    return _record("clicks", scene, labels, CLICK_SECONDS * len(points),
                   points=points.tolist(), labels=labels.astype(int).tolist())


def point_fraction(scene, seed, fraction=None, points=None):
    if (fraction is None) == (points is None):
        raise WeaksegError("config.yaml", "point_fraction needs exactly one of `fraction` or `points`")
    rng = _rng(seed, scene)
    annotated = np.flatnonzero(scene.label != IGNORE)
    if fraction is not None:  # per class, at least one point of every present class
        chosen = []
        for c in np.unique(scene.label[annotated]):
            members = annotated[scene.label[annotated] == c]
            chosen.append(rng.choice(members, max(1, round(fraction * len(members))), replace=False))
        picked = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
    else:
        picked = np.sort(rng.choice(annotated, min(points, len(annotated)), replace=False))
    labels = scene.label[picked]
    return _record("point_fraction", scene, labels, CLICK_SECONDS * len(picked),
                   points=picked.tolist(), labels=labels.astype(int).tolist())


SIMULATORS = {"scene_tags": scene_tags, "subcloud_tags": subcloud_tags, "clicks": clicks, "point_fraction": point_fraction}


def simulate(scene, kind, seed=0, **options):
    """The weak labels of `kind` an annotator would give for `scene` (options: see the kinds)."""
    if kind not in SIMULATORS:
        raise WeaksegError("config.yaml", f"unknown weak-label kind {kind!r}; known: {', '.join(SIMULATORS)}")
    try:
        return SIMULATORS[kind](scene, seed, **options)
    except TypeError as err:  # an option the kind does not have
        raise WeaksegError("config.yaml", f"weak-label kind {kind!r}: {err}") from None


def given_tags(scene, tags):
    """Scene tags the user supplied (a CSV of the `ply_folder` dataset), as a weak-label record."""
    return _record("scene_tags", scene, tags, SCENE_TAG_SECONDS, source="user")


def point_targets(weak, num_points):
    """(N,) per-point labels from a point-kind record, -1 where unlabelled."""
    target = np.full(num_points, IGNORE, np.int64)
    target[np.asarray(weak["points"], np.int64)] = weak["labels"]
    return target
