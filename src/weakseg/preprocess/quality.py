"""Supervoxel quality against ground truth, exactly as /work/shared/anchors.md defines it.

All measures are over the input points; kNN = the `k` (10) nearest neighbours, not counting the
point itself.
- ground-truth boundary point: instance != -1 and a kNN neighbour with another valid instance;
- boundary recall: share of ground-truth boundary points p such that p or one of its kNN has a
  kNN neighbour in a different supervoxel;
- undersegmentation error: over points with instance != -1, the points of each supervoxel outside
  its majority instance, summed, divided by the number of such points;
- oracle mIoU: each supervoxel gets the majority class of its annotated points, scored against
  the labels (-1 ignored) with weakseg.metrics (mean over classes present in truth or prediction).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .. import metrics


def knn(coord, k=10):
    """(N, k) indices of each point's k nearest other points."""
    _, nn = cKDTree(coord).query(coord, k=k + 1)
    self_first = nn[:, 0] == np.arange(len(coord))
    # With duplicate points the point itself may not come first: drop whichever column is itself.
    if self_first.all():
        return nn[:, 1:]
    out = np.empty((len(coord), k), nn.dtype)
    for r in range(len(coord)):
        row = nn[r][nn[r] != r]
        out[r] = row[:k]
    return out


def boundary_recall(supervoxel, instance, nn):
    instance = np.asarray(instance)
    ni = instance[nn]
    truth = (instance != -1) & ((ni != instance[:, None]) & (ni != -1)).any(1)
    if not truth.any():
        return float("nan")
    cut = (supervoxel[nn] != supervoxel[:, None]).any(1)
    near = cut | cut[nn].any(1)
    return float(near[truth].mean())


def _majority(group, value, num_values):
    """Per group: (majority value (lowest on ties), its count, group size) over the given members."""
    key = group.astype(np.int64) * num_values + value
    cnt = np.bincount(key, minlength=(group.max() + 1) * num_values).reshape(-1, num_values)
    return cnt.argmax(1), cnt.max(1), cnt.sum(1)


def undersegmentation_error(supervoxel, instance):
    instance = np.asarray(instance, np.int64)
    m = instance != -1
    if not m.any():
        return float("nan")
    _, inst = np.unique(instance[m], return_inverse=True)
    _, top, size = _majority(supervoxel[m], inst.ravel(), inst.max() + 1)
    return float((size - top).sum() / m.sum())


def oracle_labels(supervoxel, label, num_classes):
    """Per point, the majority class of its supervoxel's annotated points (-1 if it has none)."""
    label = np.asarray(label, np.int64)
    m = label >= 0
    best = np.full(supervoxel.max() + 1, -1, np.int64)
    if m.any():
        maj, _, size = _majority(supervoxel[m], label[m], num_classes)
        best[: len(maj)] = np.where(size > 0, maj, -1)
    return best[supervoxel]


def oracle_miou(supervoxel, label, num_classes=20):
    label = np.asarray(label, np.int64)
    pred = oracle_labels(supervoxel, label, num_classes)
    conf = metrics.confusion(label, pred, num_classes)
    return metrics.scores(conf, [str(c) for c in range(num_classes)])["miou"]


def evaluate(coord, supervoxel, instance, label, num_classes=20, k=10, nn=None):
    """All four numbers; pass `nn` (from `knn`) to reuse the neighbours across calls."""
    supervoxel = np.asarray(supervoxel, np.int64)
    if nn is None:
        nn = knn(coord, k)
    return {
        "supervoxels": int(len(np.unique(supervoxel))),
        "boundary_recall": boundary_recall(supervoxel, instance, nn),
        "undersegmentation_error": undersegmentation_error(supervoxel, instance),
        "oracle_miou": 100.0 * oracle_miou(supervoxel, label, num_classes),
    }
