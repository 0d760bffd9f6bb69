"""WSegPC (Duan et al., "High-quality Pseudo-labeling for Point Cloud Segmentation with
Scene-level Annotation"): scene tags, the scan's RGB frames and its supervoxels.

- Two networks, each with a classifier and a multi-label classification loss against the scene's
  tags (Sec. 3.1): the sparse U-Net on the points (L_cls^3D: average pooling of the class scores
  over all points) and a ResNet on `views` frames drawn each step (L_cls^2D: over all pixels of all
  views); both averages are taken on the scores before the sigmoid, as class activation maps are.
- Cross-modal feature guidance (Sec. 3.2, Eq. 1): projection heads both ways; `pairs`
  point-pixel pairs drawn from the projections of the step's views; InfoNCE at `temperature`,
  2D->3D (L_con^3D: projected point features against detached pixel features) and 3D->2D
  (L_con^2D: projected pixel features against detached point features), weight `alpha`.
- Region-point semantic consistency (Sec. 3.3, Eq. 2-8): EMA teachers of both networks
  (`ema_momentum`, updated after every step); the teacher's class probabilities (over the
  scene's tags) are averaged within regions, each point takes its region's class and score, and
  points whose score is under their class's threshold are left out: adaptive thresholds
  T_c = Q_c / max(Q) * eta over the step's points (Eq. 5-6), or `threshold: fixed` (T_c = eta,
  the paper's Table 8 "R w/ F"). Regions: the scene's supervoxels in 3D; in 2D each feature
  cell's pixel back-projected with its depth and given the supervoxel of the nearest point within
  `region_distance` (the same regions seen from the camera). Weight `beta`, from `rpc_start` on.
- Mix3D (Sec. 3.3): the student sees the scene overlaid with another training scene
  (`mix3d_rate`; tags united), the teachers the scene alone. The prior-based augmentation for
  floor, wall and ceiling tags (weakseg.prior_drop, `prior_drop_rate`) on the student's scenes.
- Pseudo labels: the 3D teacher's probabilities over the scene's tags (averaged over
  `test_views`), with `fuse_2d` averaged with the 2D teacher's where a frame sees the point,
  then averaged within each supervoxel (region voting). `predict`: the 3D teacher alone.

`losses` picks the terms beyond the two classification losses (con_3d, con_2d, rpc_3d,
rpc_2d: the paper's Table 2 rows). Defaults are the paper's and the authors' released
configuration (6 views, 512 pairs, tau 0.07, alpha 0.05, beta 1, eta 0.8, every scene mixed),
scaled where a run here is shorter. The authors train in two runs: classification and
contrastive losses for 200 passes over the data, then the consistency for 100 more, started
from the first run's networks; here that is one run, the consistency from `rpc_start` = 0.67 of
the epochs, with the teachers following the students from the first step (a teacher that starts
from an untrained network and labels from the first epochs drives every region to one class).
The teacher's momentum 0.999 a step averages over about 1,000 of the consistency run's 30,000
steps; 0.98 averages over about 50 of the few hundred steps that phase has here. The 2D backbone
is a ResNet-18 (the paper's ResNet-50 is initialised from ImageNet, which cannot be downloaded
here; `weights_2d` names a state dict) on frames downscaled to `image_width` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from torch import nn

from . import METHODS
from ..errors import WeaksegError
from ..models.image import ImageSegmenter, cell_grid, resize_frames, sample_cells
from ..option_schemas import BOOLEAN, ELASTIC, NONNEGATIVE, POSITIVE, POSITIVE_INT, SHARE, TEST_VIEWS, enum
from ..prior_drop import drop_prior_regions, prior_class_ids
from ..relation import supervoxel_mean
from ..segmentation import Segmenter, voxel_cross_entropy
from ..train import Example
from ..voxel import augment, point_features, voxelize

TERMS = ("con_3d", "con_2d", "rpc_3d", "rpc_2d")

DECLARATIONS = [dict(name="wsegpc", accepts={"scene_tags"},
                     options={"test_views": TEST_VIEWS, "elastic": ELASTIC, "backbone_2d": enum(18, 34, 50),
                              "weights_2d": {"type": "string", "minLength": 1}, "features_2d": POSITIVE_INT,
                              "views": POSITIVE_INT, "image_width": {"type": "integer", "minimum": 16},
                              "pairs": {"type": "integer", "minimum": 2}, "temperature": POSITIVE,
                              "alpha": NONNEGATIVE, "beta": NONNEGATIVE, "eta": SHARE,
                              "threshold": enum("adaptive", "fixed"), "ema_momentum": SHARE, "rpc_start": SHARE,
                              "losses": {"type": "array", "uniqueItems": True, "items": enum("con_3d", "con_2d", "rpc_3d", "rpc_2d")},
                              "mix3d_rate": SHARE, "prior_drop_rate": SHARE, "fuse_2d": BOOLEAN,
                              "region_distance": POSITIVE},
                     needs=("geometry", "projections", "frames"), predicts=True)]


@dataclass
class Target:
    """What WSegPC learns from in one training scene, kept small: the frames at the working
    resolution only (a ScanNet scene's full-size frames are hundreds of MB)."""

    tags: np.ndarray  # (C,) 0/1
    prior: dict  # weakseg.prior_drop.prior_class_ids
    supervoxel: np.ndarray  # (N,) int64 region of each point
    num_regions: int
    images: torch.Tensor  # (V, 3, h, w) uint8, downscaled colour frames
    image_size: tuple  # (H, W) of the original colour frames, the pairs' pixel grid
    cell_region: np.ndarray  # (V, h/8, w/8) int64 region of each feature cell, -1 = none
    pairs: dict  # point, frame, u, v: (M,) point-pixel pairs (colour pixels), as the projections file stores them


# --------------------------------------------------------------------------- the parts, as functions
def info_nce(query, keys, temperature):
    """Eq. 1: row i of `query` should match row i of `keys` more than any other row (both
    L2-normalised; the mean over rows)."""
    logits = F.normalize(query, dim=1) @ F.normalize(keys, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(query), device=query.device))


def class_thresholds(labels, num_classes, eta, adaptive=True):
    """Eq. 5-6: T_c = Q_c / max(Q) * eta, Q_c the number of points whose region's class is c
    (`labels`, -1 = none); `adaptive=False`: T_c = eta for every class."""
    if not adaptive:
        return np.full(num_classes, eta, np.float32)
    q = np.bincount(labels[labels >= 0], minlength=num_classes).astype(np.float32)
    return (q / max(q.max(), 1.0) * eta).astype(np.float32)


def region_targets(prob, region, num_regions, eta, adaptive=True):
    """Eq. 2-3 and 7: each point takes the class of its region's mean probability, kept where
    that mean's score exceeds the class's threshold. `prob` (N, C) teacher probabilities, `region`
    (N,) int64 (-1 = no region: no target). Returns (N,) int64 labels, -1 = not selected."""
    labels = np.full(len(prob), -1, np.int64)
    inside = region >= 0
    if not inside.any():
        return labels
    mean = supervoxel_mean(prob[torch.from_numpy(inside).to(prob.device)], torch.from_numpy(region[inside]).to(prob.device),
                           num_regions).cpu().numpy()
    score, cls = mean.max(1), mean.argmax(1)
    point_cls, point_score = cls[region[inside]], score[region[inside]]
    thresholds = class_thresholds(point_cls, prob.shape[1], eta, adaptive)
    labels[inside] = np.where(point_score > thresholds[point_cls], point_cls, -1)
    return labels


def tagged_softmax(logits, tags):
    """Class probabilities over the scene's tags only (zero elsewhere); all zero without tags."""
    tags = torch.as_tensor(tags, device=logits.device).bool()
    if not tags.any():
        return torch.zeros_like(logits)
    shape = [1] * logits.dim()
    shape[1 if logits.dim() == 4 else -1] = -1
    return torch.softmax(logits.masked_fill(~tags.view(shape), float("-inf")), 1 if logits.dim() == 4 else -1)


@torch.no_grad()
def ema_update(teacher, student, momentum):
    """teacher <- momentum * teacher + (1 - momentum) * student; buffers (BatchNorm's running
    statistics) are copied from the student."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
    for t, s in zip(teacher.buffers(), student.buffers()):
        t.copy_(s)


def cell_regions(frames, coord, region, grid, max_distance):
    """(V, h, w) int64: the region of the point nearest to each feature cell's pixel (the cell
    centre at the colour resolution, back-projected with the depth camera's reading along that
    ray), -1 where there is no depth or no point within `max_distance` metres."""
    rows, cols = grid
    height, width = frames.color.shape[1:3]
    vc, uc = np.meshgrid((np.arange(rows) + 0.5) / rows * height - 0.5, (np.arange(cols) + 0.5) / cols * width - 0.5, indexing="ij")
    hd, wd = frames.depth.shape[1:3]
    tree = cKDTree(coord)
    out = np.full((len(frames.pose), rows, cols), -1, np.int64)
    for f in range(len(frames.pose)):
        kc, kd = frames.color_intrinsic[f].astype(np.float64), frames.depth_intrinsic[f].astype(np.float64)
        y = (vc - kc[1, 2]) / kc[1, 1]  # the ray through the colour pixel, at z = 1
        x = (uc - kc[0, 2] - kc[0, 1] * y) / kc[0, 0]
        ud = np.rint(kd[0, 0] * x + kd[0, 1] * y + kd[0, 2]).astype(np.int64)
        vd = np.rint(kd[1, 1] * y + kd[1, 2]).astype(np.int64)
        inside = (ud >= 0) & (ud < wd) & (vd >= 0) & (vd < hd)
        z = np.zeros_like(x)
        z[inside] = frames.depth[f][vd[inside], ud[inside]]
        valid = z > 0
        cam = np.stack([x[valid] * z[valid], y[valid] * z[valid], z[valid]], 1)
        pose = frames.pose[f].astype(np.float64)
        world = cam @ pose[:3, :3].T + pose[:3, 3]
        distance, nearest = tree.query(world, distance_upper_bound=max_distance)
        found = np.isfinite(distance)
        cells = out[f]
        picked = np.full(len(world), -1, np.int64)
        picked[found] = region[nearest[found]]
        cells[valid] = picked
    return out


def mix_scenes(parts, rng, elastic=()):
    """Mix3D: each (coord, color, normal) augmented on its own, centred in x and y with its
    lowest point at z = 0 (the input's height feature stays height above the floor), then
    overlaid; returns one (coord, color, normal)."""
    coords, colors, normals = [], [], []
    for coord, color, normal in parts:
        coord, normal, color = augment(coord, normal, color, rng, elastic)
        low, high = coord.min(0), coord.max(0)
        coords.append(coord - np.array([(low[0] + high[0]) / 2, (low[1] + high[1]) / 2, low[2]], np.float32))
        colors.append(color)
        normals.append(normal)
    return np.concatenate(coords), np.concatenate(colors), np.concatenate(normals)


# --------------------------------------------------------------------------- the method
@METHODS.register("wsegpc")
class WSegPC:
    def __init__(self, num_classes, params, device):
        self.num_classes = num_classes
        self.voxel_size = params["voxel_size"]
        self.elastic = [tuple(pair) for pair in params.get("elastic", [])]
        self.device = torch.device(device)
        # Layer norm, as for every network trained through scene-level pooling (weakseg.models.sparse).
        self.student = Segmenter(num_classes, params, device, norm="layer")
        self.teacher = Segmenter(num_classes, params, device, norm="layer")
        self.teacher.model.load_state_dict(self.student.model.state_dict())
        depth, width = params.get("backbone_2d", 18), params.get("features_2d", 64)
        self.image = ImageSegmenter(num_classes, depth, width, params.get("weights_2d")).to(self.device)
        self.image_teacher = ImageSegmenter(num_classes, depth, width).to(self.device)
        self.image_teacher.load_state_dict(self.image.state_dict())
        for teacher in (self.teacher.model, self.image_teacher):
            teacher.eval()
            teacher.requires_grad_(False)
        point_width = params["channels"][0]
        self.model = nn.ModuleDict({
            "unet": self.student.model, "image": self.image,
            "project_3d": nn.Sequential(nn.Linear(point_width, width), nn.ReLU(), nn.Linear(width, width)),
            "project_2d": nn.Sequential(nn.Linear(width, point_width), nn.ReLU(), nn.Linear(point_width, point_width)),
        }).to(self.device)
        self.views = params.get("views", 6)
        self.image_width = params.get("image_width", 160)
        self.pairs = params.get("pairs", 512)
        self.temperature = params.get("temperature", 0.07)
        self.alpha = params.get("alpha", 0.05)
        self.beta = params.get("beta", 1.0)
        self.eta = params.get("eta", 0.8)
        self.adaptive = params.get("threshold", "adaptive") == "adaptive"
        self.momentum = params.get("ema_momentum", 0.98)
        self.rpc_start = round(params.get("rpc_start", 0.67) * params["epochs"])
        self.terms = set(params.get("losses", TERMS))
        self.mix3d_rate = params.get("mix3d_rate", 1.0)
        self.prior_drop_rate = params.get("prior_drop_rate", 0.5)
        self.fuse_2d = params.get("fuse_2d", False)
        self.region_distance = params.get("region_distance", 0.1)
        self.epoch = 0

    # ------------------------------------------------------------------ training
    def _tags(self, weak):
        tags = np.zeros(self.num_classes, np.float32)
        tags[np.asarray(weak["tags"], np.int64)] = 1
        return tags

    def example(self, scene, weak, geometry, projections):
        if scene.frames is None:
            raise WeaksegError(scene.scene_id, "wsegpc learns from the scene's RGB frames, and this scene has none")
        images = resize_frames(scene.frames.color, self.image_width)
        region = geometry["supervoxel"].astype(np.int64)
        cells = cell_regions(scene.frames, scene.coord, region, cell_grid(*images.shape[-2:]), self.region_distance)
        pairs = {k: np.asarray(projections[k]) for k in ("point", "frame", "u", "v")}  # int32 / int16 as stored: a ScanNet scene has millions
        target = Target(self._tags(weak), prior_class_ids(scene.class_names), region, len(geometry["sv_size"]),
                        images, tuple(scene.frames.color.shape[1:3]), cells, pairs)
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, target)

    def before_epoch(self, epoch, examples, rng):
        self.epoch = epoch

    def batches(self, examples, batch_size, rng):
        """Random batches of (scene, the scene it is mixed with, or None): Mix3D's partner is
        another training scene, drawn at `mix3d_rate`."""
        order = rng.permutation(len(examples))
        draws = rng.random(len(examples))
        others = rng.integers(0, max(1, len(examples) - 1), len(examples))

        def pair(i):
            if len(examples) < 2 or draws[i] >= self.mix3d_rate:
                return examples[i], None
            return examples[i], examples[others[i] + (others[i] >= i)]

        return [[pair(i) for i in order[s:s + batch_size]] for s in range(0, len(order), batch_size)]

    def _student_input(self, example, partner, rng):
        """The student's cloud: the scene (and its partner) after the prior-based augmentation,
        mixed; returns (coord, color, normal, tags, kept (N,) bool of the scene's points)."""
        parts, tags = [], np.zeros(self.num_classes, np.float32)
        kept = None
        for e in (example, partner):
            if e is None:
                continue
            keep, scene_tags = drop_prior_regions(e.coord, e.target.tags, e.target.prior, self.prior_drop_rate, rng) \
                if self.prior_drop_rate > 0 else (np.ones(len(e.coord), bool), e.target.tags)
            kept = keep if kept is None else kept
            parts.append((e.coord[keep], e.color[keep], e.normal[keep]))
            tags = np.maximum(tags, scene_tags)
        if partner is None:
            coord, color, normal = parts[0]
            coord, normal, color = augment(coord, normal, color, rng, self.elastic)
        else:
            coord, color, normal = mix_scenes(parts, rng, self.elastic)
        return coord, color, normal, tags, kept

    def _views(self, target, rng):
        """The step's frames: `views` of those the projections list (fewer if the scene has fewer)."""
        seen = np.unique(target.pairs["frame"])
        return np.sort(rng.choice(seen, min(self.views, len(seen)), replace=False)) if len(seen) else seen

    def loss(self, batch, rng):
        total = 0.0
        for example, partner in batch:
            total = total + self._scene_loss(example, partner, rng)
        return total / len(batch)

    def _scene_loss(self, example, partner, rng):
        t = example.target
        coord, color, normal, tags, kept = self._student_input(example, partner, rng)
        voxels = voxelize([coord], [point_features(coord, color, normal)], self.voxel_size)
        inverse = voxels.inverse.numpy()
        logits, features = self.student.model(voxels.to(self.device), with_features=True)
        point_logits = logits[voxels.inverse]
        num_kept = int(kept.sum())
        own = torch.from_numpy(inverse[:num_kept]).to(self.device)  # the scene's points come first
        loss = F.binary_cross_entropy_with_logits(point_logits.mean(0), torch.from_numpy(tags).to(self.device))

        views = self._views(t, rng)
        image_features, image_logits = self.image(t.images[views].to(self.device))
        loss = loss + F.binary_cross_entropy_with_logits(image_logits.mean((0, 2, 3)), torch.from_numpy(t.tags).to(self.device))

        # point-pixel pairs of the step's views, for the points the student sees
        index_of_kept = np.cumsum(kept) - 1
        in_view = np.isin(t.pairs["frame"], views) & kept[t.pairs["point"]]
        view_of = np.full(int(t.pairs["frame"].max(initial=0)) + 1, -1, np.int64)
        view_of[views] = np.arange(len(views))
        candidates = np.flatnonzero(in_view)
        for term, project, mine, other in (("con_3d", "project_3d", "3d", "2d"), ("con_2d", "project_2d", "2d", "3d")):
            if term not in self.terms or len(candidates) < 2:
                continue
            pick = candidates[np.sort(rng.choice(len(candidates), min(self.pairs, len(candidates)), replace=False))]
            point_f = features[own[torch.from_numpy(index_of_kept[t.pairs["point"][pick]]).to(self.device)]]
            pixel_f = sample_cells(image_features, view_of[t.pairs["frame"][pick]], t.pairs["u"][pick], t.pairs["v"][pick], t.image_size)
            query, keys = (point_f, pixel_f) if mine == "3d" else (pixel_f, point_f)
            loss = loss + self.alpha * info_nce(self.model[project](query), keys.detach(), self.temperature)

        if self.epoch >= self.rpc_start and "rpc_3d" in self.terms:
            with torch.no_grad():
                scene_voxels = voxelize([example.coord], [point_features(example.coord, example.color, example.normal)], self.voxel_size)
                prob = tagged_softmax(self.teacher.model(scene_voxels.to(self.device))[scene_voxels.inverse], t.tags)
            labels = region_targets(prob, t.supervoxel, t.num_regions, self.eta, self.adaptive)[kept]
            target = np.full(len(inverse), -1, np.int64)
            target[:num_kept] = labels
            selected = int((labels >= 0).sum())
            if selected:  # Eq. 8 averages over all N points, the unselected counting zero
                loss = loss + self.beta * voxel_cross_entropy(logits, inverse, target) * selected / num_kept
        if self.epoch >= self.rpc_start and "rpc_2d" in self.terms:
            with torch.no_grad():
                prob = tagged_softmax(self.image_teacher(t.images[views].to(self.device))[1], t.tags)
            flat_prob = prob.permute(0, 2, 3, 1).reshape(-1, self.num_classes)
            labels = region_targets(flat_prob, t.cell_region[views].reshape(-1), t.num_regions, self.eta, self.adaptive)
            selected = labels >= 0
            if selected.any():
                cell_logits = image_logits.permute(0, 2, 3, 1).reshape(-1, self.num_classes)
                rows = torch.from_numpy(np.flatnonzero(selected)).to(self.device)
                ce = F.cross_entropy(cell_logits[rows], torch.from_numpy(labels[selected]).to(self.device), reduction="sum")
                loss = loss + self.beta * ce / len(labels)
        return loss

    def after_step(self, epoch, step):
        ema_update(self.teacher.model, self.student.model, self.momentum)
        ema_update(self.image_teacher, self.image, self.momentum)

    def extra_state(self):
        return {"teacher_3d": self.teacher.model.state_dict(), "teacher_2d": self.image_teacher.state_dict()}

    def load_extra_state(self, state):
        self.teacher.model.load_state_dict(state["teacher_3d"])
        self.image_teacher.load_state_dict(state["teacher_2d"])

    # ------------------------------------------------------------------ inference
    def predict(self, scene):
        """The 3D teacher's class probabilities (over every class: a scene to segment has no tags)."""
        return self.teacher.predict(scene)

    @torch.no_grad()
    def image_probabilities(self, scene, projections, tags):
        """(N, C) the 2D teacher's probabilities over the tags, averaged over the frames that see
        each point (zero rows for points no frame sees), and (N,) whether a frame sees it."""
        images = resize_frames(scene.frames.color, self.image_width)
        total = np.zeros((scene.num_points, self.num_classes), np.float32)
        count = np.zeros(scene.num_points, np.int64)
        frame = projections["frame"].astype(np.int64)
        for start in range(0, len(images), self.views):
            chunk = np.arange(start, min(start + self.views, len(images)))
            prob = tagged_softmax(self.image_teacher(images[chunk].to(self.device))[1], tags)
            rows = np.flatnonzero((frame >= chunk[0]) & (frame <= chunk[-1]))
            if len(rows):
                sampled = sample_cells(prob, frame[rows] - start, projections["u"][rows], projections["v"][rows],
                                       scene.frames.color.shape[1:3]).cpu().numpy()
                np.add.at(total, projections["point"][rows], sampled)
                np.add.at(count, projections["point"][rows], 1)
        seen = count > 0
        total[seen] /= count[seen, None]
        return total, seen

    def pseudo_labels(self, scene, weak, geometry, projections):
        tags = self._tags(weak)
        prob = self.predict(scene) * tags
        total = prob.sum(1, keepdims=True)
        prob = np.divide(prob, total, out=np.zeros_like(prob), where=total > 0)
        if self.fuse_2d and scene.frames is not None:
            image_prob, seen = self.image_probabilities(scene, projections, tags)
            prob[seen] = (prob[seen] + image_prob[seen]) / 2
        region = torch.from_numpy(geometry["supervoxel"].astype(np.int64))
        voted = supervoxel_mean(torch.from_numpy(prob), region, len(geometry["sv_size"]))[region]
        return voted.numpy().astype(np.float32)
