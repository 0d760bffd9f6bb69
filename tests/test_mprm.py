"""MPRM (stage one) on tiny rooms where the answer is known."""

import numpy as np
import torch

from weakseg.methods import METHODS
from weakseg.methods.mprm import ChannelAttention, SpatialAttention
from weakseg.train import fit
from weakseg.weak import simulate
from conftest import box_surface, make_scene

PARAMS = dict(voxel_size=0.1, channels=[16, 32, 32], blocks=1, attention_channels=8, prior_drop_rate=0.0)
TRAIN = dict(epochs=40, batch_size=2, lr=0.005, weight_decay=0.0, seed=0)


def tiny_room(rng, objects, scene_id="r"):
    """A 3 x 3 m floor (class 1), one wall (0), and boxes of the given classes."""
    floor, fn = box_surface([0, 0, -0.02], [3, 3, 0], 0.05, rng)
    keep = fn[:, 2] > 0
    wall, wn = box_surface([0, 2.98, 0], [3, 3, 2], 0.05, rng)
    keepw = wn[:, 1] < 0
    parts = [(floor[keep], fn[keep], 1, (150, 110, 60)), (wall[keepw], wn[keepw], 0, (220, 220, 210))]
    boxes = {3: ([0.4, 0.4, 0], [1.8, 2.4, 0.6], (170, 40, 40)), 4: ([0.5, 0.5, 0], [1.0, 1.0, 0.9], (60, 60, 160))}
    for c in objects:
        p, n = box_surface(*boxes[c][:2], 0.05, rng)
        parts.append((p, n, c, boxes[c][2]))
    coord = np.concatenate([p for p, *_ in parts])
    label = np.concatenate([np.full(len(p), c) for p, _, c, _ in parts])
    color = np.concatenate([np.tile(col, (len(p), 1)) for p, _, _, col in parts]) + rng.integers(-15, 15, (len(coord), 3))
    return make_scene(coord, label, color=np.clip(color, 0, 255), normal=np.concatenate([n for _, n, _, _ in parts]), scene_id=scene_id)


def tags(scene):
    return {"kind": "scene_tags", "tags": sorted(set(scene.label.tolist()))}


def test_attention_paths_start_as_identity():
    a = torch.randn(50, 16)
    assert torch.equal(SpatialAttention(16, 4, concat=False)(a), a)  # alpha starts at 0
    assert torch.equal(ChannelAttention()(a), a)  # beta starts at 0
    assert SpatialAttention(16, 4, concat=True)(a).shape == (50, 20)  # point-wise path concatenates


def test_cam_of_a_class_absent_from_the_tags_is_zero(rng):
    method = METHODS.get("mprm")(20, PARAMS, "cpu")
    scene = tiny_room(rng, [4])
    prob = method.pseudo_labels(scene, {"kind": "scene_tags", "tags": [0, 1, 4]})
    absent = [c for c in range(20) if c not in (0, 1, 4)]
    assert (prob[:, absent] == 0).all()
    total = prob.sum(1)  # a distribution over the tags, or all zero: no activation, no label
    assert np.all(np.isclose(total, 1, atol=1e-5) | (total == 0))


def test_mprm_learns_from_tags_where_the_tagged_object_is(rng, tmp_path):
    """Half the rooms have a bed (a big box), half do not: scene tags alone teach the network
    to tell them apart (loss well below the tags' own entropy) and its bed CAM peaks on the bed."""
    torch.manual_seed(0)
    method = METHODS.get("mprm")(20, PARAMS, "cpu")
    rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[], [3]] * 4)]
    examples = [method.example(r, tags(r)) for r in rooms]
    history = fit(method, examples, TRAIN, tmp_path / "ckpt.pt")
    prior = 4 * np.log(2) / 20  # four paths, one of 20 classes a coin flip, the rest certain
    assert history[-1]["loss"] < 0.5 * prior, history[-1]
    test = tiny_room(rng, [3], "test")
    cam = method.class_activation(test, tags(test))
    on, off = cam[test.label == 3, 3].mean(), cam[test.label != 3, 3].mean()
    assert on > off + 0.2, (on, off)  # normalised CAMs: 1 at the class's peak


def corridor(rng, scene_id):
    """A 6 x 2 m floor (1) with a wall (0) across its far end at x = 6: both in every scene."""
    floor, fn = box_surface([0, 0, -0.02], [6, 2, 0], 0.06, rng)
    keep = fn[:, 2] > 0
    wall, wn = box_surface([5.98, 0, 0], [6, 2, 2], 0.06, rng)
    keepw = wn[:, 0] < 0
    coord = np.concatenate([floor[keep], wall[keepw]])
    label = np.repeat([1, 0], [keep.sum(), keepw.sum()])
    color = np.where(label[:, None] == 1, [150, 110, 60], [200, 200, 190]) + rng.integers(-40, 40, (len(coord), 3))
    return make_scene(coord, label, color=np.clip(color, 0, 255), normal=np.concatenate([fn[keep], wn[keepw]]), scene_id=scene_id)


def test_cam_is_zero_for_classes_outside_the_balls_that_hold_the_point(rng):
    method = METHODS.get("mprm")(20, PARAMS, "cpu")
    scene = corridor(rng, "c")
    weak = simulate(scene, "subcloud_tags", radius=2.0)
    cam = method.class_activation(scene, weak)
    far = scene.coord[:, 0] < 1.5  # only floor-only balls reach here
    assert (cam[far, 0] == 0).all()
    assert (cam[:, 2:] == 0).all()


def test_subcloud_tags_localise_a_class_that_every_scene_has(rng, tmp_path):
    """Scene tags cannot tell the wall from the floor (both everywhere); balls that see only
    floor are negatives for the wall, so its CAM learns to peak on the wall."""
    torch.manual_seed(0)
    method = METHODS.get("mprm")(20, PARAMS, "cpu")
    rooms = [corridor(rng, f"c{i}") for i in range(4)]
    examples = [method.example(r, simulate(r, "subcloud_tags", radius=2.0)) for r in rooms]
    fit(method, examples, TRAIN, tmp_path / "ckpt.pt")
    test = corridor(rng, "test")
    cam = method.class_activation(test, {"kind": "scene_tags", "tags": [0, 1]})
    on, off = cam[test.label == 0, 0].mean(), cam[test.label == 1, 0].mean()
    assert on > off + 0.2, (on, off)


def test_the_prior_augmentation_localises_floor_and_wall_from_scene_tags(rng, tmp_path):
    """Every corridor has a floor and a wall, so scene tags alone cannot tell them apart; removing
    the bottom layer (and the floor tag) or the side's plane (and the wall tag) makes negatives,
    and the wall's CAM learns to peak on the wall, the floor's on the floor."""
    torch.manual_seed(0)
    method = METHODS.get("mprm")(20, PARAMS | {"prior_drop_rate": 0.5}, "cpu")
    rooms = [corridor(rng, f"c{i}") for i in range(4)]
    examples = [method.example(r, {"kind": "scene_tags", "tags": [0, 1]}) for r in rooms]
    fit(method, examples, TRAIN | {"batch_size": 1}, tmp_path / "ckpt.pt")
    test = corridor(rng, "test")
    cam = method.class_activation(test, {"kind": "scene_tags", "tags": [0, 1]})
    wall, floor = test.label == 0, test.label == 1
    assert cam[wall, 0].mean() > cam[floor, 0].mean() + 0.2
    assert cam[floor, 1].mean() > cam[wall, 1].mean() + 0.2
