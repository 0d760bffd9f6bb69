"""Stage two: a sparse U-Net trained on per-point labels (refined pseudo labels or ground truth)."""

from __future__ import annotations

import numpy as np
import torch

from .classes import IGNORE
from .models.sparse import SparseUNet
from .train import Example, to_voxels
from .voxel import NUM_FEATURES, prediction_views


def voxel_cross_entropy(logits, inverse, target, class_weights=None):
    """The points' (class-weighted) cross-entropy, computed per voxel: the points of a voxel share
    its logits (`inverse[i]`: point i's voxel), so each voxel counts its points per class. The
    same value as over the points, much cheaper (bench/bench_training.py). `target`: (N,) class
    ids, -1 ignored; or (N, C) soft targets, the class probabilities a point should have (rows of
    zeros ignored), which each voxel sums instead of counting."""
    num_classes = logits.shape[1]
    if target.ndim == 2:
        counts = torch.zeros(len(logits), num_classes).index_add_(0, torch.from_numpy(inverse), torch.from_numpy(target))
        weighted = counts.to(logits.device)
    else:
        labelled = target != IGNORE
        counts = np.bincount(inverse[labelled] * num_classes + target[labelled],
                             minlength=len(logits) * num_classes).reshape(-1, num_classes)
        weighted = torch.from_numpy(counts.astype(np.float32)).to(logits.device)
    if class_weights is not None:
        weighted = weighted * class_weights
    return -(weighted * torch.log_softmax(logits, 1)).sum() / weighted.sum().clamp(min=1e-12)


def hard_labels(target):
    """The class ids of an example's labelled points, from class ids or soft targets."""
    if target.ndim == 2:
        return target[target.sum(1) > 0].argmax(1)
    return target[target >= 0]


def soft_targets(prob):
    """Pseudo-label probabilities as soft targets: each labelled row summing to 1, rows of zeros
    (no label) kept."""
    total = prob.sum(1, keepdims=True)
    return np.divide(prob, total, out=np.zeros_like(prob, np.float32), where=total > 0)


class Segmenter:
    def __init__(self, num_classes, params, device, norm="scene"):
        self.num_classes = num_classes
        self.voxel_size = params["voxel_size"]
        self.class_balance = params.get("class_balance", 0.0)
        self.elastic = [tuple(pair) for pair in params.get("elastic", [])]
        views = params.get("test_views", {"rotations": 1, "scales": [1.0]})
        self.rotations, self.scales = views["rotations"], tuple(views["scales"])
        self.device = torch.device(device)
        self.model = SparseUNet(NUM_FEATURES, num_classes, tuple(params["channels"]), params["blocks"], device, norm).to(device)
        self.class_weights = None

    def balance(self, examples):
        """Weight each class by frequency**-class_balance over the training labels (0: no
        weighting, 0.5: the inverse square root, which keeps rare classes from being ignored
        without letting a handful of points dominate); weights average 1 over present classes."""
        counts = np.bincount(np.concatenate([hard_labels(e.target) for e in examples]), minlength=self.num_classes)
        present = counts > 0
        weights = np.zeros(self.num_classes, np.float32)
        weights[present] = (counts[present] / counts.sum()) ** -self.class_balance
        weights[present] /= weights[present].mean()
        self.class_weights = torch.from_numpy(weights).to(self.device)

    @staticmethod
    def example(scene, labels):
        """`labels`: (N,) int class ids with -1 for points that do not count in the loss, or (N, C)
        soft targets (voxel_cross_entropy)."""
        labels = np.asarray(labels)
        labels = labels.astype(np.float32) if labels.ndim == 2 else labels.astype(np.int64)
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, labels)

    def loss(self, examples, rng):
        batch = to_voxels(examples, self.voxel_size, rng, self.elastic)
        target = np.concatenate([e.target for e in examples])
        return voxel_cross_entropy(self.model(batch.to(self.device)), batch.inverse.cpu().numpy(), target, self.class_weights)

    @torch.no_grad()
    def predict(self, scene):
        """(N, C) float32 class probabilities for every point, averaged over the test views
        (`test_views`: turns about z times scales; one view by default)."""
        self.model.eval()
        total, count = None, 0
        for coord, normal in prediction_views(scene.coord, scene.normal, self.rotations, self.scales):
            view = Example(scene.scene_id, coord, scene.color, normal, None)
            batch = to_voxels([view], self.voxel_size, rng=None).to(self.device)
            prob = torch.softmax(self.model(batch), 1)[batch.inverse]
            total = prob if total is None else total + prob
            count += 1
        return (total / count).cpu().numpy()
