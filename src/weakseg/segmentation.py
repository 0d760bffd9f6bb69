"""Stage two: a sparse U-Net trained on per-point labels (refined pseudo labels or ground truth)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .classes import IGNORE
from .models.sparse import SparseUNet
from .train import Example, to_voxels
from .voxel import NUM_FEATURES


class Segmenter:
    def __init__(self, num_classes, params, device):
        self.num_classes = num_classes
        self.voxel_size = params["voxel_size"]
        self.class_balance = params.get("class_balance", 0.0)
        self.device = torch.device(device)
        self.model = SparseUNet(NUM_FEATURES, num_classes, tuple(params["channels"]), params["blocks"], device).to(device)
        self.class_weights = None

    def balance(self, examples):
        """Weight each class by frequency**-class_balance over the training labels (0: no
        weighting, 0.5: the inverse square root, which keeps rare classes from being ignored
        without letting a handful of points dominate); weights average 1 over present classes."""
        counts = np.bincount(np.concatenate([e.target[e.target >= 0] for e in examples]), minlength=self.num_classes)
        present = counts > 0
        weights = np.zeros(self.num_classes, np.float32)
        weights[present] = (counts[present] / counts.sum()) ** -self.class_balance
        weights[present] /= weights[present].mean()
        self.class_weights = torch.from_numpy(weights).to(self.device)

    @staticmethod
    def example(scene, labels):
        """`labels`: (N,) int class ids with -1 for points that do not count in the loss."""
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, np.asarray(labels, np.int64))

    def loss(self, examples, rng):
        batch = to_voxels(examples, self.voxel_size, rng).to(self.device)
        logits = self.model(batch)[batch.inverse]
        target = torch.from_numpy(np.concatenate([e.target for e in examples])).to(self.device)
        return F.cross_entropy(logits, target, weight=self.class_weights, ignore_index=IGNORE)

    @torch.no_grad()
    def predict(self, scene):
        """(N, C) float32 class probabilities for every point."""
        self.model.eval()
        batch = to_voxels([self.example(scene, np.zeros(scene.num_points))], self.voxel_size, rng=None).to(self.device)
        return torch.softmax(self.model(batch), 1)[batch.inverse].cpu().numpy()
