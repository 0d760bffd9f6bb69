"""MPRM: Multi-Path Region Mining (Wei et al., CVPR 2020; ../shared/papers/mprm.txt).

A sparse residual encoder with two downsamplings feeds four paths: the plain PCAM, spatial
attention (SA), channel attention (CA) and point-wise attention (PA). Each path has a linear
classifier giving a class activation map (CAM) per coarse voxel; global average pooling over a
scene gives its prediction vector, trained with a sigmoid cross-entropy against the scene tags.
Pseudo labels are the element-wise max of the four CAMs (each normalised per class to [0, 1]),
zeroed for classes outside the tags (Eq. 2), upsampled to the points by nearest neighbour (the parent voxel).

A class tagged in every training scene (walls, floors) has no negative example, so its CAM
does not localise it (the paper's remedy is sub-cloud tags). `prior_drop_rate` (default 0.5:
as many negatives as positives for those classes) makes negatives by the prior-based
augmentation of weakseg.prior_drop; 0 turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import METHODS
from ..option_schemas import ELASTIC, POSITIVE_INT, SHARE
from ..models.sparse import SparseEncoder, parent_rows
from ..train import Example, to_voxels
from ..voxel import NUM_FEATURES
from ..prior_drop import drop_prior_regions, prior_class_ids
from ..weak import subcloud_members

DECLARATIONS = [dict(name="mprm", accepts={"scene_tags", "subcloud_tags"},
                     options={"attention_channels": POSITIVE_INT, "prior_drop_rate": SHARE, "elastic": ELASTIC})]

PATHS = ("pcam", "sa", "ca", "pa")


class SpatialAttention(nn.Module):
    """E = softmax_i(B_j . C_i); F = E D (Eq. 3). SA adds alpha * up(F) to A (Eq. 4); PA concatenates F."""

    def __init__(self, channels, reduced, concat):
        super().__init__()
        self.b, self.c, self.d = (nn.Linear(channels, reduced) for _ in range(3))
        self.concat = concat
        if not concat:
            self.up = nn.Linear(reduced, channels)
            self.alpha = nn.Parameter(torch.zeros(1))
        self.scale = reduced ** -0.5  # not in the paper: keeps the softmax from saturating at init

    def forward(self, a):
        energy = self.b(a) @ self.c(a).T * self.scale
        f = torch.softmax(energy, dim=1) @ self.d(a)
        return torch.cat([a, f], 1) if self.concat else a + self.alpha * self.up(f)


class ChannelAttention(nn.Module):
    """b_ji = softmax_i(A_i . A_j) over channels; D = beta * A b^T + A (Eqs. 5-6)."""

    def __init__(self):
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, a):
        # Dividing by N (not in the paper) keeps the energy independent of the scene's size.
        energy = a.T @ a / len(a)
        return a + self.beta * (a @ torch.softmax(energy, dim=1).T)


class MPRMNet(nn.Module):
    def __init__(self, in_channels, num_classes, channels, blocks, reduced, device):
        super().__init__()
        self.encoder = SparseEncoder(in_channels, channels, blocks, device, norm="layer")
        c = channels[-1]
        self.sa = SpatialAttention(c, reduced, concat=False)
        self.ca = ChannelAttention()
        self.pa = SpatialAttention(c, reduced, concat=True)
        self.classifiers = nn.ModuleDict({
            "pcam": nn.Linear(c, num_classes), "sa": nn.Linear(c, num_classes),
            "ca": nn.Linear(c, num_classes), "pa": nn.Linear(c + reduced, num_classes),
        })

    def forward(self, batch):
        """CAMs of every path for every coarse voxel, the coarse tensor and the finest tensor."""
        levels = self.encoder(batch)
        coarse = levels[-1]
        scene_of = coarse.indices[:, 0].long()
        cams = {p: [] for p in PATHS}
        rows = []
        # Attention is within a scene: loop over the scenes of the batch.
        for b in range(batch.batch_size):
            idx = torch.nonzero(scene_of == b).squeeze(1)
            a = coarse.features[idx]
            rows.append(idx)
            cams["pcam"].append(self.classifiers["pcam"](a))
            cams["sa"].append(self.classifiers["sa"](self.sa(a)))
            cams["ca"].append(self.classifiers["ca"](self.ca(a)))
            cams["pa"].append(self.classifiers["pa"](self.pa(a)))
        order = torch.cat(rows)
        inv = torch.empty_like(order)
        inv[order] = torch.arange(len(order))
        cams = {p: torch.cat(v)[inv] for p, v in cams.items()}  # back to the coarse tensor's row order
        return cams, coarse, levels[0]


@dataclass
class Tags:
    """What MPRM learns from: the scene's tags and, for sub-cloud tags, the balls' members and tags."""

    scene: np.ndarray  # (C,) 0/1
    points: np.ndarray | None = None  # (P,) point index of each (point, ball) membership
    ball: np.ndarray | None = None  # (P,) ball index of each membership
    ball_tags: np.ndarray | None = None  # (S, C) 0/1
    prior: dict | None = None  # {floor/wall/ceiling: class id} of the label set (weakseg.prior_drop)

    def point_mask(self, num_points):
        """(N, C) 0/1: the classes a point may take: the union of its balls' tags, else the scene's."""
        mask = np.tile(self.scene, (num_points, 1))
        if self.points is not None and len(self.points):
            inside = np.zeros((num_points, len(self.scene)), np.float32)
            np.maximum.at(inside, self.points, self.ball_tags[self.ball])
            covered = np.zeros(num_points, bool)
            covered[self.points] = True
            mask[covered] = inside[covered]
        return mask


@METHODS.register("mprm")
class MPRM:
    def __init__(self, num_classes, params, device):
        self.num_classes = num_classes
        self.voxel_size = params["voxel_size"]
        self.elastic = [tuple(pair) for pair in params.get("elastic", [])]
        channels = tuple(params["channels"])
        self.factor = 2 ** (len(channels) - 1)
        self.device = torch.device(device)
        self.model = MPRMNet(NUM_FEATURES, num_classes, channels, params["blocks"], params.get("attention_channels", 32), device).to(device)
        self.prior_drop_rate = params.get("prior_drop_rate", 0.5)

    def _one_hot(self, tags):
        out = np.zeros(self.num_classes, np.float32)
        out[tags] = 1
        return out

    def example(self, scene, weak):
        target = Tags(self._one_hot(weak["tags"]), prior=prior_class_ids(scene.class_names))
        if weak["kind"] == "subcloud_tags":
            subclouds = weak["subclouds"]
            target.points, target.ball = subcloud_members(scene.coord, [s["center"] for s in subclouds], weak["radius"])
            target.ball_tags = np.stack([self._one_hot(s["tags"]) for s in subclouds]) if subclouds else np.zeros((0, self.num_classes), np.float32)
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, target)

    def _scene_logits(self, cams, coarse):
        """Global average pooling of each path's CAM over each scene's coarse voxels."""
        scene_of = coarse.indices[:, 0].long()
        counts = torch.bincount(scene_of, minlength=coarse.batch_size).clamp(min=1)[:, None]
        return {p: torch.zeros(coarse.batch_size, cam.shape[1], device=cam.device).index_add_(0, scene_of, cam) / counts
                for p, cam in cams.items()}

    def _ball_logits(self, cams, coarse, fine, batch, examples):
        """Average of each path's CAM over the points of each ball (all balls of the batch)."""
        coarse_of_point = parent_rows(fine, coarse, self.factor)[batch.inverse]
        rows = torch.cat([coarse_of_point[off + torch.from_numpy(e.target.points).to(self.device)]
                          for off, e in zip(batch.point_offsets, examples)])
        first = np.cumsum([0] + [len(e.target.ball_tags) for e in examples])
        ball = torch.from_numpy(np.concatenate([f + e.target.ball for f, e in zip(first, examples)])).to(self.device)
        counts = torch.bincount(ball, minlength=int(first[-1])).clamp(min=1)[:, None]
        return {p: torch.zeros(int(first[-1]), cam.shape[1], device=cam.device).index_add_(0, ball, cam[rows]) / counts
                for p, cam in cams.items()}

    def _drop_priors(self, example, rng):
        """The example with the prior-based augmentation drawn on it (weakseg.prior_drop)."""
        t = example.target
        keep, scene_tags = drop_prior_regions(example.coord, t.scene, t.prior, self.prior_drop_rate, rng)
        if keep.all():
            return example
        target = Tags(scene_tags, prior=t.prior)
        if t.points is not None:  # members of the removed points leave their balls, and every
            new_index = np.cumsum(keep) - 1  # ball loses the dropped tags
            inside = keep[t.points]
            target.points, target.ball = new_index[t.points[inside]], t.ball[inside]
            target.ball_tags = t.ball_tags * scene_tags
        return Example(example.scene_id, example.coord[keep], example.color[keep], example.normal[keep], target)

    def loss(self, examples, rng):
        if self.prior_drop_rate > 0:
            examples = [self._drop_priors(e, rng) for e in examples]
        batch = to_voxels(examples, self.voxel_size, rng, self.elastic).to(self.device)
        cams, coarse, fine = self.model(batch)
        if examples[0].target.points is None:
            target = np.stack([e.target.scene for e in examples])
            logits = self._scene_logits(cams, coarse)
        else:
            target = np.concatenate([e.target.ball_tags for e in examples])
            logits = self._ball_logits(cams, coarse, fine, batch, examples)
        target = torch.from_numpy(target).to(self.device)
        return sum(F.binary_cross_entropy_with_logits(logits[p], target) for p in PATHS)

    @torch.no_grad()
    def class_activation(self, scene, weak):
        """(N, C) fused CAM per point: each path's CAM is normalised per class to [0, 1] over the
        scene (ReLU, then divide by the class maximum, the usual CAM practice, which makes the
        paths comparable), fused by element-wise max, zero for classes outside the tags (Eq. 2)."""
        self.model.eval()
        ex = self.example(scene, weak)
        batch = to_voxels([ex], self.voxel_size, rng=None).to(self.device)
        cams, coarse, fine = self.model(batch)
        fused = torch.stack([_normalise(cams[p]) for p in PATHS]).amax(0)
        cam = fused[parent_rows(fine, coarse, self.factor)][batch.inverse].cpu().numpy()
        return cam * ex.target.point_mask(scene.num_points)

    def pseudo_labels(self, scene, weak):
        cam = self.class_activation(scene, weak)
        total = cam.sum(1, keepdims=True)
        return np.divide(cam, total, out=np.zeros_like(cam), where=total > 0).astype(np.float32)


def _normalise(cam):
    cam = cam.clamp(min=0)
    return cam / cam.amax(0, keepdim=True).clamp(min=1e-6)
