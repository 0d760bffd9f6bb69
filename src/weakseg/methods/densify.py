"""Densify (Tian et al., "Densify Your Labels: Unsupervised Clustering with Bipartite Matching
for Weakly Supervised Point Cloud Segmentation"): scene tags made into dense labels through
primitives, clusters of the network's own features, matched to the tags.

- The sparse U-Net's last features f and a linear classifier (its head) give per-point class
  scores; `cam`: a scene's mean score against its tags (Eq. 2-3, binary cross-entropies summed
  over classes; the mean taken on the scores before the sigmoid, see `_cam_loss`).
- Primitives (Sec. 3.2.1): K-means over the features of all training scenes pooled per
  supervoxel (Supplementary A.1), recomputed every few epochs by the `before_epoch` hook; during
  the warm-up (A.2) the K-means input is the feature concatenated with the supervoxel's mean
  colour and PFH. Centroids, their groups and every scene's assignment are method state, saved
  in the checkpoints.
- `us` (Eq. 5): cross-entropy between softmax(f . f_prim^T) and the points' K-means assignment.
- Bipartite matching (Eq. 6-7): per scene, the Hungarian algorithm between the primitives present
  and the scene's tags, on the classifier's score of each primitive's mean feature in that scene;
  unmatched primitives are ignored. Semantic assignment filtering (A.4): after the warm-up the
  primitives are grouped by K-means on their centroids; a group whose matched primitives disagree
  is un-assigned, otherwise its label reaches the group's other primitives in the scene.
  `match` (Eq. 9) supervises the assigned primitives' mean features, from `match_start` on (A.3).
- Pseudo labels from the classifier, kept where its prediction agrees with the scene's tags (the
  paper's bootstrapping filter), or from the primitives alone (`pseudo_from: primitives`, as
  Table 6). Bootstrapping is a second round (`rounds: 2`): given the previous round's labels the
  same U-Net trains on them with cross-entropy.
- Tags that are in every scene: the prior-based augmentation (weakseg.prior_drop,
  `prior_drop_rate`), as in MPRM.

Options and their defaults, the paper's scaled to a training run of `epochs`: `primitives` K
(the paper's 300 for 1201 ScanNet scenes; 100 here: a few tens of scenes hold far fewer
supervoxels and appearances to split, and a primitive should still span many scenes for the
matching to mean something), `groups` (the paper's
120 of 300: 0.4 K; 0 turns filtering off), `kmeans_interval` (every 10 of 400 epochs: 0.025 of
training), `warmup` (250 of 400: 0.625; 0 turns the hand-crafted features off), `match_start`
(60 of 400: 0.15), `losses` (any of cam, us, match: the paper's Table 4 ablation),
`pseudo_from` (classifier | primitives), `prior_drop_rate` (0.5), and the U-Net's
`class_balance` and `test_views` (its own predictions, the bootstrapping round's labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from . import METHODS
from ..option_schemas import CLASS_BALANCE, ELASTIC, SHARE, TEST_VIEWS, enum, subset_of
from ..classes import IGNORE
from ..prior_drop import drop_prior_regions, prior_class_ids
from ..relation import supervoxel_mean
from ..segmentation import Segmenter, voxel_cross_entropy
from ..train import Example, to_voxels

DECLARATIONS = [dict(name="densify", accepts={"scene_tags"},
                     options={"test_views": TEST_VIEWS, "class_balance": CLASS_BALANCE, "elastic": ELASTIC,
                              "primitives": {"type": "integer", "minimum": 2}, "groups": SHARE,
                              "kmeans_interval": SHARE, "warmup": SHARE, "match_start": SHARE,
                              "losses": subset_of("cam", "us", "match"),
                              "pseudo_from": enum("classifier", "primitives"), "prior_drop_rate": SHARE},
                     needs=("geometry", "previous"), predicts=True)]

LOSSES = ("cam", "us", "match")


@dataclass
class Target:
    tags: np.ndarray  # (C,) 0/1
    supervoxel: np.ndarray  # (N,) int64
    handcrafted: np.ndarray  # (S, 3 + 125): mean colour in [0, 1] and PFH, per supervoxel
    prior: dict  # weakseg.prior_drop.prior_class_ids
    labels: np.ndarray | None = None  # (N,) the previous round's labels (bootstrapping), -1 = none


def _spread(x):
    """Root mean squared distance of the rows of `x` to their mean."""
    return float(np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())) if len(x) else 0.0


def kmeans(x, k, seed):
    """(centroids (k, D), labels (M,)) of scikit-learn's K-means (k-means++, one init: the
    centroids are recomputed every few epochs anyway). One thread: its threads' partial sums
    meet in varying order, and a resumed run must cluster exactly as an uninterrupted one."""
    k = min(k, len(x))
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100).fit(x)
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)


def match_primitives(scores, tags, groups=None):
    """Eq. 6 for one scene: `scores` (P, C), the classifier's score of each present primitive's
    mean feature; `tags` (C,) 0/1. The Hungarian algorithm pairs each tag with one primitive,
    maximising the summed scores (Eq. 7's cost, masked by the tags); others get -1.

    With `groups` (P,) (A.4): a group whose matched primitives disagree is un-assigned, and a
    group whose matched primitives agree gives their label to all its primitives."""
    assigned = np.full(len(scores), IGNORE, np.int64)
    tagged = np.flatnonzero(tags)
    if len(scores) == 0 or len(tagged) == 0:
        return assigned
    rows, cols = linear_sum_assignment(scores[:, tagged], maximize=True)
    assigned[rows] = tagged[cols]
    if groups is not None:
        out = np.full_like(assigned, IGNORE)
        for g in np.unique(groups):
            members = groups == g
            labels = np.unique(assigned[members & (assigned >= 0)])
            if len(labels) == 1:
                out[members] = labels[0]
        assigned = out
    return assigned


@METHODS.register("densify")
class Densify:
    def __init__(self, num_classes, params, device):
        self.num_classes = num_classes
        # Layer norm: the CAM loss pools each scene, and per-scene normalisation would take away
        # the very statistics that tell a scene with a class from one without.
        self.segmenter = Segmenter(num_classes, params, device, norm="layer")
        self.model = self.segmenter.model
        self.voxel_size = params["voxel_size"]
        self.device = torch.device(device)
        self.seed = params.get("seed", 0)
        epochs = params["epochs"]
        self.k = params.get("primitives", 100)
        self.num_groups = round(params.get("groups", 0.4) * self.k)
        self.kmeans_interval = max(1, round(params.get("kmeans_interval", 0.025) * epochs))
        self.warmup_epochs = round(params.get("warmup", 0.625) * epochs)
        self.match_start = round(params.get("match_start", 0.15) * epochs)
        self.losses = tuple(params.get("losses", LOSSES))
        self.pseudo_from = params.get("pseudo_from", "classifier")
        self.prior_drop_rate = params.get("prior_drop_rate", 0.5)
        self.epoch = 0
        self.prim = None  # (K, H) centroids in the feature space (Eq. 5's f_prim)
        self.groups = None  # (K,) group of each primitive (A.4), after the warm-up
        self.assign = {}  # scene id -> (S,) primitive of each supervoxel

    def _tags(self, weak):
        tags = np.zeros(self.num_classes, np.float32)
        tags[np.asarray(weak["tags"], np.int64)] = 1
        return tags

    # ------------------------------------------------------------------ training
    def example(self, scene, weak, geometry, previous=None):
        tags = self._tags(weak)
        handcrafted = np.concatenate([geometry["sv_color"] / 255.0, geometry["pfh"]], 1).astype(np.float32)
        labels = None if previous is None else np.asarray(previous, np.int64)
        target = Target(tags, geometry["supervoxel"].astype(np.int64), handcrafted, prior_class_ids(scene.class_names), labels)
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, target)

    def _bootstrapping(self, examples):
        return examples[0].target.labels is not None

    def before_epoch(self, epoch, examples, rng):
        self.epoch = epoch
        if self._bootstrapping(examples):
            if self.segmenter.class_weights is None:
                self.segmenter.balance([Example(e.scene_id, None, None, None, e.target.labels) for e in examples])
            return
        if ("us" in self.losses or "match" in self.losses) and (self.prim is None or epoch % self.kmeans_interval == 0):
            self._cluster(examples, epoch)
            self.model.train()

    @torch.no_grad()
    def _features(self, example):
        """(N, H) last-layer features of every point, one view, no augmentation."""
        self.model.eval()
        batch = to_voxels([example], self.voxel_size, rng=None).to(self.device)
        _, features = self.model(batch, with_features=True)
        return features[batch.inverse]

    def _cluster(self, examples, epoch):
        """Sec. 3.2.1: K-means over every training scene's supervoxel features (+ colour and PFH
        during the warm-up, A.2); after the warm-up, the primitives' groups (A.4)."""
        pooled = [supervoxel_mean(self._features(e), torch.from_numpy(e.target.supervoxel).to(self.device),
                                  len(e.target.handcrafted)).cpu().numpy() for e in examples]
        features = np.concatenate(pooled)
        x = features
        if epoch < self.warmup_epochs:  # each hand-crafted group weighs as much as the features
            colour = np.concatenate([e.target.handcrafted[:, :3] for e in examples])
            pfh = np.concatenate([e.target.handcrafted[:, 3:] for e in examples])
            scale = _spread(features)
            x = np.concatenate([features] + [g * (scale / max(_spread(g), 1e-12)) for g in (colour, pfh)], 1)
        centroids, labels = kmeans(x, self.k, seed=self.seed * 1000 + epoch)
        # Eq. 5's f_prim: the centroids' feature part, i.e. the mean feature of each cluster
        prim = np.zeros((len(centroids), features.shape[1]), np.float32)
        np.add.at(prim, labels, features)
        prim /= np.maximum(np.bincount(labels, minlength=len(centroids)), 1)[:, None]
        self.prim = torch.from_numpy(prim).to(self.device)
        bounds = np.cumsum([0] + [len(p) for p in pooled])
        self.assign = {e.scene_id: torch.from_numpy(labels[bounds[i]:bounds[i + 1]]) for i, e in enumerate(examples)}
        self.groups = None
        if self.num_groups > 0 and epoch >= self.warmup_epochs and len(prim) > self.num_groups:
            self.groups = torch.from_numpy(kmeans(prim, self.num_groups, seed=self.seed)[1])

    def _drop_priors(self, example, rng):
        t = example.target
        keep, tags = drop_prior_regions(example.coord, t.tags, t.prior, self.prior_drop_rate, rng)
        if keep.all():
            return example
        target = Target(tags, t.supervoxel[keep], t.handcrafted, t.prior)
        return Example(example.scene_id, example.coord[keep], example.color[keep], example.normal[keep], target)

    def loss(self, examples, rng):
        if self._bootstrapping(examples):  # the U-Net on the previous round's labels
            return self.segmenter.loss([Example(e.scene_id, e.coord, e.color, e.normal, e.target.labels) for e in examples], rng)
        if self.prior_drop_rate > 0:
            examples = [self._drop_priors(e, rng) for e in examples]
        batch = to_voxels(examples, self.voxel_size, rng, self.segmenter.elastic)
        inverse = batch.inverse.cpu().numpy()
        batch = batch.to(self.device)
        logits, features = self.model(batch, with_features=True)
        offsets = list(batch.point_offsets) + [len(inverse)]
        total = logits.new_zeros(())
        if "cam" in self.losses:
            total = total + self._cam_loss(logits, batch.inverse, offsets, examples)
        if self.prim is not None and "us" in self.losses:
            assignment = np.concatenate([self.assign[e.scene_id].numpy()[e.target.supervoxel] for e in examples])
            total = total + voxel_cross_entropy(features @ self.prim.T, inverse, assignment)
        if self.prim is not None and "match" in self.losses and self.epoch >= self.match_start:
            total = total + self._match_loss(features[batch.inverse], offsets, examples)
        return total

    def _cam_loss(self, logits, inverse, offsets, examples):
        """Eq. 2-3: the binary cross-entropies of each scene's mean point score against its tags,
        summed over classes. The mean is taken before the sigmoid (global average pooling of the
        features, then the linear classifier, as class activation maps are made): averaged
        sigmoids give every point the same gradient and, here, learn no localisation at all."""
        point_logits = logits[inverse]
        mean = torch.stack([point_logits[offsets[i]:offsets[i + 1]].mean(0) for i in range(len(examples))])
        tags = torch.from_numpy(np.stack([e.target.tags for e in examples])).to(mean)
        return F.binary_cross_entropy_with_logits(mean, tags, reduction="sum") / len(examples)

    def _scene_primitives(self, point_features, primitive_of_point):
        """(present primitive ids, their mean features in the scene (Eq. 7))."""
        present, local = np.unique(primitive_of_point, return_inverse=True)
        means = supervoxel_mean(point_features, torch.from_numpy(local).to(self.device), len(present))
        return present, means

    def _assign(self, present, means, tags):
        scores = self.model.head(means).detach().cpu().numpy()
        groups = None if self.groups is None else self.groups.numpy()[present]
        return match_primitives(scores, tags, groups)

    def _match_loss(self, point_features, offsets, examples):
        """Eq. 9 over the batch's assigned primitives (each scene matched on its own, Eq. 6-7)."""
        means, targets = [], []
        for i, e in enumerate(examples):
            primitive = self.assign[e.scene_id].numpy()[e.target.supervoxel]
            present, mean = self._scene_primitives(point_features[offsets[i]:offsets[i + 1]], primitive)
            assigned = self._assign(present, mean, e.target.tags)
            keep = assigned >= 0
            means.append(mean[torch.from_numpy(keep).to(self.device)])
            targets.append(assigned[keep])
        means, targets = torch.cat(means), np.concatenate(targets)
        if len(targets) == 0:
            return means.sum() * 0
        return F.cross_entropy(self.model.head(means), torch.from_numpy(targets).to(self.device))

    def extra_state(self):
        if self.prim is None:
            return {}
        return {"primitives": self.prim.cpu(), "groups": self.groups if self.groups is not None else torch.zeros(0, dtype=torch.long),
                "assignment": dict(self.assign)}

    def load_extra_state(self, state):
        if "primitives" in state:
            self.prim = state["primitives"].to(self.device)
            self.groups = state["groups"] if len(state["groups"]) else None
            self.assign = dict(state["assignment"])

    # ------------------------------------------------------------------ inference
    def predict(self, scene):
        return self.segmenter.predict(scene)

    def _from_primitives(self, scene, tags):
        """Table 6: each point takes its nearest primitive (argmax f . f_prim), each primitive
        its matched class in the scene; points of unmatched primitives stay unlabelled."""
        ex = Example(scene.scene_id, scene.coord, scene.color, scene.normal, None)
        with torch.no_grad():
            features = self._features(ex)
            primitive = (features @ self.prim.T).argmax(1).cpu().numpy()
            present, means = self._scene_primitives(features, primitive)
            assigned = self._assign(present, means, tags)
        label = assigned[np.searchsorted(present, primitive)]
        prob = np.zeros((scene.num_points, self.num_classes), np.float32)
        prob[label >= 0, label[label >= 0]] = 1
        return prob

    def pseudo_labels(self, scene, weak, geometry, previous=None):
        tags = self._tags(weak)
        if self.pseudo_from == "primitives" and self.prim is not None:  # none after bootstrapping
            return self._from_primitives(scene, tags)
        prob = self.predict(scene)
        agrees = tags[prob.argmax(1)] > 0  # the bootstrapping filter: the tags confirm the class
        prob = prob * tags
        total = prob.sum(1, keepdims=True)
        prob = np.divide(prob, total, out=np.zeros_like(prob), where=total > 0)
        prob[~agrees] = 0
        return prob.astype(np.float32)
