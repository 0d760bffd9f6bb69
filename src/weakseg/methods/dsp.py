"""DSP (Wei et al., "Dense Supervision Propagation for Weakly Supervised Semantic Segmentation on
3D Point Clouds"): a few labelled points, their supervision spread by feature reallocation.

- The basic network (Sec. 3.1): the sparse U-Net with the weak cross-entropy on the labelled
  points (Eq. 1), as `sparse_points`.
- Cross-sample feature reallocation, CSFR (Sec. 3.2): a step takes pairs of scenes that share
  at least one labelled class (`batches`). After the decoder's first upsampling, each scene's
  features F_i are rebuilt from its partner's, F_j^c = softmax_rows(F_i W_c F_j^T) F_j and the
  other way round (Eq. 2-4), and go through the rest of the decoder with the scene's own skip
  connections. The cross-regularisation loss pulls that output towards the basic one,
  L_CR = ||Z_i - Z_j^c||^2 (Eq. 5); the reallocated branch has no segmentation loss (the paper's
  Table 2a: it hurts).
- Intra-sample feature reallocation, ISFR (Sec. 3.3): F_i^s = softmax_rows(F_i W_s F_i^T) F_i with
  no residual (Eq. 6-8), L_SR = ||Z_i^s - Z_i||^2 and the weak cross-entropy on Z_i^s (Eq. 9-10).
- Two-stage training (Sec. 3.4): `phases` split the epochs evenly, CSFR then ISFR by default
  (Eq. 11, then Eq. 12), the second continuing from the first under the one trainer's single
  learning-rate cycle. Inference uses the basic branch alone.
- Pseudo labels: the basic network's class probabilities, the labelled points keeping theirs.

The squared distances are means over voxels and classes (the paper's Frobenius norms are sums,
whose scale would follow the scene's size); `regularization_weight` scales L_CR and L_SR (1, as
Eq. 11-12). W_c and W_s start as I / sqrt(K), a scaled dot product: with W = I the affinities of
K = 96 unnormalised channels saturate the softmax from the first step. When a scene has more
than `affinity_voxels` voxels at the reallocation level, its features are rebuilt from a random
subset of that many (the keys); every voxel is still rebuilt, so memory grows as N x
affinity_voxels. The paper's inputs are balls of 2 m radius (Sec. 4.2), so its intra-sample
affinities never span more than 4 m; ours are whole rooms. `intra_radius` (metres, off by
default: the whole scene) limits ISFR's keys to the voxels within that distance of the query.

Options: `phases` (["csfr", "isfr"]; "csfr+isfr" trains both modules jointly, the paper's
one-stage ablation), `affinity_voxels` (4096), `regularization_weight` (1), `intra_radius`
(none), and the U-Net's `class_balance` and `test_views`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import METHODS
from ..option_schemas import CLASS_BALANCE, ELASTIC, NONNEGATIVE, POSITIVE, POSITIVE_INT, TEST_VIEWS, enum
from ..models.sparse import parent_rows
from ..segmentation import Segmenter, voxel_cross_entropy
from ..train import to_voxels
from ..weak import point_targets
from .sparse_points import keep_given_points

DECLARATIONS = [dict(name="dsp", accepts={"clicks", "point_fraction"},
                     options={"test_views": TEST_VIEWS, "class_balance": CLASS_BALANCE, "elastic": ELASTIC,
                              "phases": {"type": "array", "minItems": 1, "items": enum("csfr", "isfr", "csfr+isfr")},
                              "affinity_voxels": POSITIVE_INT, "regularization_weight": NONNEGATIVE,
                              "intra_radius": POSITIVE},
                     predicts=True)]


def reallocate(query, keys, weight, allowed=None):
    """Each row of `query` rebuilt as a weighted sum of the rows of `keys`, weighted by
    softmax_rows(query W keys^T) (Eq. 2-4 and 6-8); returns (features, attention). `allowed`
    (queries x keys, boolean) limits each row to some keys; a row allowed none uses them all."""
    affinity = query @ weight @ keys.T
    if allowed is not None:
        affinity = affinity.masked_fill(~(allowed | ~allowed.any(1, keepdim=True)), float("-inf"))
    attention = torch.softmax(affinity, dim=1)
    return attention @ keys, attention


class Reallocation(nn.Module):
    """The learnable affinity matrices W_c (cross-sample) and W_s (intra-sample)."""

    def __init__(self, channels):
        super().__init__()
        start = torch.eye(channels) / math.sqrt(channels)
        self.cross = nn.Parameter(start.clone())
        self.intra = nn.Parameter(start.clone())


def labelled_classes(example):
    return set(np.unique(example.target[example.target >= 0]).tolist())


def partner_candidates(examples):
    """For each example, the indices of the others that share one of its labelled classes."""
    classes = [labelled_classes(e) for e in examples]
    return [[j for j in range(len(examples)) if j != i and classes[i] & classes[j]] for i in range(len(examples))]


@METHODS.register("dsp")
class DenseSupervisionPropagation:
    def __init__(self, num_classes, params, device):
        if len(params["channels"]) < 2:
            raise ValueError("dsp reallocates features after the decoder's first upsampling: `channels` needs two levels or more")
        self.segmenter = Segmenter(num_classes, params, device)
        self.unet = self.segmenter.model
        self.voxel_size = params["voxel_size"]
        self.device = torch.device(device)
        self.phases = list(params.get("phases", ["csfr", "isfr"]))
        self.epochs = params["epochs"]
        self.affinity_voxels = params.get("affinity_voxels", 4096)
        self.regularization_weight = params.get("regularization_weight", 1.0)
        self.intra_radius = params.get("intra_radius")
        self.level_cell = self.voxel_size * 2 ** (len(params["channels"]) - 2)  # the reallocation level's voxel edge
        self.reallocation = Reallocation(params["channels"][-2]).to(self.device)
        self.model = nn.ModuleDict({"unet": self.unet, "reallocation": self.reallocation})
        self.phase = self.phases[0]

    def phase_of(self, epoch):
        """The phase epoch `epoch` (from 0) trains in: the epochs split evenly, in order."""
        return self.phases[min(len(self.phases) - 1, epoch * len(self.phases) // max(1, self.epochs))]

    # ------------------------------------------------------------------ training
    def example(self, scene, weak):
        return self.segmenter.example(scene, point_targets(weak, scene.num_points))

    def before_epoch(self, epoch, examples, rng):
        self.phase = self.phase_of(epoch)
        if self.segmenter.class_weights is None:  # `class_balance` over the labelled points
            self.segmenter.balance(examples)

    def batches(self, examples, batch_size, rng):
        """Batches of (scene, partner) pairs; the partner shares a labelled class with the scene
        (CSFR), or is None (ISFR alone, or no other scene shares one)."""
        order = rng.permutation(len(examples))
        candidates = partner_candidates(examples) if "csfr" in self.phase else None

        def pair(i):
            if candidates is None or not candidates[i]:
                return examples[i], None
            return examples[i], examples[candidates[i][rng.integers(len(candidates[i]))]]

        return [[pair(i) for i in order[s:s + batch_size]] for s in range(0, len(order), batch_size)]

    def _keys(self, rows, rng):
        """Positions in `rows` (one scene's voxels) that a reallocation reads from: all, or
        `affinity_voxels` of them."""
        if len(rows) <= self.affinity_voxels:
            return torch.arange(len(rows), device=rows.device)
        return torch.from_numpy(np.sort(rng.choice(len(rows), self.affinity_voxels, replace=False))).to(rows.device)

    def loss(self, pairs, rng):
        scenes = [s for s, _ in pairs] + [p for _, p in pairs if p is not None]
        paired = [(k, len(pairs) + n) for n, k in enumerate(k for k, (_, p) in enumerate(pairs) if p is not None)]
        batch = to_voxels(scenes, self.voxel_size, rng, self.segmenter.elastic)
        inverse = batch.inverse.cpu().numpy()
        batch = batch.to(self.device)
        target = np.concatenate([e.target for e in scenes])
        weights = self.segmenter.class_weights

        skips = self.unet.encoder(batch)
        level = self.unet.decode(skips[-1], skips, 0, 1)  # after the first upsampling
        logits = self.unet.head(self.unet.decode(level, skips, 1).features)
        loss = voxel_cross_entropy(logits, inverse, target, weights)
        feats, rows = level.features, [torch.nonzero(level.indices[:, 0] == k).squeeze(1) for k in range(len(scenes))]

        def branch(new_features):
            return self.unet.head(self.unet.decode(level.replace_feature(new_features), skips, 1).features)

        if "csfr" in self.phase and paired:
            cross, w = feats, self.reallocation.cross
            for a, b in paired:  # A_c = F_a W_c F_b^T and its transpose F_b W_c^T F_a^T
                cross = cross.index_copy(0, rows[a], reallocate(feats[rows[a]], feats[rows[b]][self._keys(rows[b], rng)], w)[0])
                cross = cross.index_copy(0, rows[b], reallocate(feats[rows[b]], feats[rows[a]][self._keys(rows[a], rng)], w.T)[0])
            reallocated = torch.zeros(len(scenes), dtype=torch.bool)
            reallocated[[k for pair in paired for k in pair]] = True
            voxels = reallocated.to(self.device)[batch.indices[:, 0].long()]
            loss = loss + self.regularization_weight * F.mse_loss(branch(cross)[voxels], logits[voxels])
        if "isfr" in self.phase:
            intra, position = feats, level.indices[:, 1:].float() * self.level_cell
            for r in rows:
                keys, allowed = r[self._keys(r, rng)], None
                if self.intra_radius is not None:
                    allowed = torch.cdist(position[r], position[keys]) <= self.intra_radius
                intra = intra.index_copy(0, r, reallocate(feats[r], feats[keys], self.reallocation.intra, allowed)[0])
            intra_logits = branch(intra)
            loss = loss + voxel_cross_entropy(intra_logits, inverse, target, weights)
            loss = loss + self.regularization_weight * F.mse_loss(intra_logits, logits)
        return loss

    @torch.no_grad()
    def cross_attention(self, a, b):
        """The cross affinity softmax_rows(F_a W_c F_b^T) of two examples seen without
        augmentation, and for each of them its points' rows in that matrix (as a, then as b)."""
        self.model.eval()
        batch = to_voxels([a, b], self.voxel_size, rng=None).to(self.device)
        skips = self.unet.encoder(batch)
        level = self.unet.decode(skips[-1], skips, 0, 1)
        scene = level.indices[:, 0].long()
        rows = [torch.nonzero(scene == k).squeeze(1) for k in range(2)]
        _, attention = reallocate(level.features[rows[0]], level.features[rows[1]], self.reallocation.cross)
        local = torch.zeros(len(scene), dtype=torch.long)
        for r in rows:
            local[r] = torch.arange(len(r))
        point_row = local[parent_rows(skips[0], level, 2 ** (len(skips) - 2))[batch.inverse]].cpu().numpy()
        return attention.cpu().numpy(), (point_row[:len(a.coord)], point_row[len(a.coord):])

    # ------------------------------------------------------------------ inference
    def predict(self, scene):
        return self.segmenter.predict(scene)

    def pseudo_labels(self, scene, weak):
        return keep_given_points(self.segmenter.predict(scene), weak)
