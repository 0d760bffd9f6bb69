"""One Thing One Click (Liu et al., "One Thing One Click: A Self-Training Approach for Weakly
Supervised 3D Semantic Segmentation", CVPR 2021): the networks of one self-training round.

- Round-0 labels (Algorithm 1, line 1): every click (or given point) labels its whole
  supervoxel; later rounds learn from the previous round's refined labels (the DAG's `rounds`),
  the given points always keeping their class.
- The 3D U-Net (Sec. 3.2) with softmax cross-entropy on the current labels (Eq. 1).
- The relation network (Sec. 3.3): the same sparse U-Net backbone whose last layer gives a
  D-dimensional embedding instead of class scores; embeddings are mean-pooled per supervoxel
  (as Eq. 2) and trained with the contrastive loss against a memory bank of one prototype per
  class (Eq. 6-7), on a class-balanced sample of `samples_per_class` labelled supervoxels per
  step. Both networks train together, on the sum of the two losses. The memory bank is method
  state, checkpointed with the weights.
- Pseudo labels: the U-Net's class probabilities multiplied by the relation network's (the
  softmax of its supervoxel embedding against the memory bank), with the per-supervoxel mean
  U-Net feature and relation embedding written beside them for the `energy_propagation` refiner
  (Eq. 3-5) and then `confidence_selection` (Eq. 8), which give the next round's labels.

Options (the paper's defaults): `relation` (true; false = the paper's "3D U-Net" ablation),
`embedding_dim` D = 32, `temperature` tau = 0.07, `momentum` m = 0.9, `samples_per_class` s = 20,
`relation_weight` 1 (the contrastive loss's weight beside the cross-entropy), and the U-Net's
`test_views` and `class_balance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import METHODS
from ..option_schemas import BOOLEAN, CLASS_BALANCE, ELASTIC, NONNEGATIVE, POSITIVE, POSITIVE_INT, SHARE, TEST_VIEWS
from ..classes import IGNORE
from ..models.sparse import SparseUNet
from ..relation import MemoryBank, balanced_sample, contrastive_loss, relation_probabilities, supervoxel_mean
from ..segmentation import Segmenter, voxel_cross_entropy
from ..train import Example, to_voxels
from ..voxel import NUM_FEATURES
from ..weak import point_targets
from .sparse_points import keep_given_points, with_given_points

DECLARATIONS = [dict(name="otoc", accepts={"clicks", "point_fraction"},
                     options={"test_views": TEST_VIEWS, "class_balance": CLASS_BALANCE, "elastic": ELASTIC, "relation": BOOLEAN,
                              "embedding_dim": POSITIVE_INT, "temperature": POSITIVE, "momentum": SHARE,
                              "samples_per_class": POSITIVE_INT, "relation_weight": NONNEGATIVE},
                     needs=("geometry", "previous"), predicts=True)]


@dataclass
class Target:
    """One scene's round labels: per point (-1 = unlabelled), its points' supervoxel ids, and
    each supervoxel's label (the majority of its labelled points; -1 when it has none)."""

    label: np.ndarray  # (N,) int64
    supervoxel: np.ndarray  # (N,) int64
    sv_label: np.ndarray  # (S,) int64


def supervoxel_majority(label, supervoxel, num_supervoxels, num_classes):
    """(S,) the most frequent label among each supervoxel's labelled points, -1 where none."""
    keep = label >= 0
    counts = np.zeros((num_supervoxels, num_classes), np.int64)
    np.add.at(counts, (supervoxel[keep], label[keep]), 1)
    out = counts.argmax(1)
    out[counts.sum(1) == 0] = IGNORE
    return out


def expand_to_supervoxels(weak, supervoxel, num_supervoxels, num_classes):
    """Round-0 labels: each given point labels every point of its supervoxel (a supervoxel
    holding given points of two classes takes the more frequent one); the given points keep
    their own class."""
    given = point_targets(weak, len(supervoxel))
    sv_label = supervoxel_majority(given, supervoxel, num_supervoxels, num_classes)
    return with_given_points(sv_label[supervoxel], weak, len(supervoxel))


@METHODS.register("otoc")
class OneThingOneClick:
    def __init__(self, num_classes, params, device):
        self.num_classes = num_classes
        self.segmenter = Segmenter(num_classes, params, device)
        self.voxel_size = params["voxel_size"]
        self.device = torch.device(device)
        self.use_relation = params.get("relation", True)
        self.temperature = params.get("temperature", 0.07)
        self.samples_per_class = params.get("samples_per_class", 20)
        self.relation_weight = params.get("relation_weight", 1.0)
        networks = {"unet": self.segmenter.model}
        if self.use_relation:
            dim = params.get("embedding_dim", 32)
            networks["relation"] = SparseUNet(NUM_FEATURES, dim, tuple(params["channels"]), params["blocks"], device).to(device)
            self.bank = MemoryBank(num_classes, dim, params.get("momentum", 0.9), seed=params.get("seed", 0)).to(self.device)
            self._bank_update = None
        self.model = nn.ModuleDict(networks)

    # ------------------------------------------------------------------ training
    def example(self, scene, weak, geometry, previous=None):
        supervoxel = geometry["supervoxel"].astype(np.int64)
        s = len(geometry["sv_size"])
        if previous is None:
            label = expand_to_supervoxels(weak, supervoxel, s, self.num_classes)
        else:
            label = with_given_points(previous, weak, scene.num_points)
        target = Target(label, supervoxel, supervoxel_majority(label, supervoxel, s, self.num_classes))
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, target)

    def before_epoch(self, epoch, examples, rng):
        if self.segmenter.class_weights is None:  # `class_balance` over the round's labels
            self.segmenter.balance([Example(e.scene_id, None, None, None, e.target.label) for e in examples])

    def loss(self, examples, rng):
        batch = to_voxels(examples, self.voxel_size, rng, self.segmenter.elastic)
        inverse = batch.inverse.cpu().numpy()
        batch = batch.to(self.device)
        label = np.concatenate([e.target.label for e in examples])
        loss = voxel_cross_entropy(self.model["unet"](batch), inverse, label, self.segmenter.class_weights)
        if self.use_relation:
            loss = loss + self.relation_weight * self._relation_loss(batch, examples, rng)
        return loss

    def _relation_loss(self, batch, examples, rng):
        """Eq. 6 on a class-balanced sample of the batch's labelled supervoxels, then Eq. 7."""
        offsets = np.cumsum([0] + [len(e.target.sv_label) for e in examples])
        supervoxel = torch.from_numpy(np.concatenate([o + e.target.supervoxel for o, e in zip(offsets, examples)])).to(self.device)
        embedding = self.model["relation"](batch)[batch.inverse]  # per point
        pooled = supervoxel_mean(embedding, supervoxel, int(offsets[-1]))
        sv_label = np.concatenate([e.target.sv_label for e in examples])
        pick = balanced_sample(sv_label, self.samples_per_class, rng)
        if len(pick) == 0:
            return pooled.sum() * 0
        picked, labels = pooled[torch.from_numpy(pick).to(self.device)], sv_label[pick]
        self._bank_update = (picked.detach(), labels)  # Eq. 7 after the step: the loss's graph holds the keys
        return contrastive_loss(picked, labels, self.bank, self.temperature)

    def after_step(self, epoch, step):
        if self.use_relation and self._bank_update is not None:
            self.bank.update(*self._bank_update)
            self._bank_update = None

    def extra_state(self):
        return {"memory_bank": self.bank.state_dict()} if self.use_relation else {}

    def load_extra_state(self, state):
        if self.use_relation:
            self.bank.load_state_dict(state["memory_bank"])

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def _supervoxel_features(self, scene, supervoxel, s):
        """Per supervoxel: the mean last-layer U-Net feature and, with the relation network, its
        mean embedding (one view of the scene, as the networks see it in training)."""
        self.model.eval()
        batch = to_voxels([Example(scene.scene_id, scene.coord, scene.color, scene.normal, None)], self.voxel_size, rng=None)
        batch = batch.to(self.device)
        sv = torch.from_numpy(supervoxel).to(self.device)
        _, unet = self.model["unet"](batch, with_features=True)
        features = {"unet": supervoxel_mean(unet[batch.inverse], sv, s)}
        if self.use_relation:
            features["relation"] = supervoxel_mean(self.model["relation"](batch)[batch.inverse], sv, s)
        return features

    def predict(self, scene):
        """The U-Net alone (the paper's inference without propagation and relation network)."""
        return self.segmenter.predict(scene)

    def pseudo_labels(self, scene, weak, geometry, previous=None):
        supervoxel = geometry["supervoxel"].astype(np.int64)
        s = len(geometry["sv_size"])
        prob = self.segmenter.predict(scene)
        features = self._supervoxel_features(scene, supervoxel, s)
        if self.use_relation:
            relation = relation_probabilities(features["relation"], self.bank, self.temperature).cpu().numpy()
            prob = prob * relation[supervoxel]
            total = prob.sum(1, keepdims=True)
            prob = np.divide(prob, total, out=np.zeros_like(prob), where=total > 0)
        prob = keep_given_points(prob.astype(np.float32), weak)
        return prob, {name: f.cpu().numpy() for name, f in features.items()}
