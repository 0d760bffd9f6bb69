"""The embedded synthetic dataset: scene contract, scanner geometry, room contents, planning."""

import re

import numpy as np
import pytest
from scipy.spatial import cKDTree

from weakseg.classes import SCANNET20
from weakseg.datasets import synthetic as S
from weakseg.io import read_scene, write_scene
from weakseg.datasets.synthetic_plan import ROOM_TYPES, room_sequence, synthetic_plan

TINY = dict(width=96, height=72, num_frames=6, room_scale=0.6)  # well under a second per scene
C = {name: i for i, name in enumerate(SCANNET20)}


@pytest.fixture(scope="module")
def scenes():
    """One tiny scene per room type."""
    return {t: S.generate_scene(f"synth_{i:04d}", t, "train", 10 + i, **TINY) for i, t in enumerate(ROOM_TYPES)}


def classes_of(scene):
    return {SCANNET20[c] for c in np.unique(scene.label)}


def test_scene_follows_the_contract(scenes, tmp_path):
    for scene in scenes.values():
        n = scene.num_points
        assert scene.dataset == "synthetic" and scene.class_names == SCANNET20 and scene.split == "train"
        assert (scene.coord.dtype, scene.color.dtype, scene.normal.dtype) == (np.float32, np.uint8, np.float32)
        assert (scene.label.dtype, scene.instance.dtype) == (np.int16, np.int32)
        assert scene.label.min() >= 0 and scene.label.max() < 20  # every point labelled
        assert scene.instance.min() >= 0
        fr = scene.frames
        assert fr.color.shape == (6, 72, 96, 3) and fr.color.dtype == np.uint8
        assert fr.depth.shape == (6, 72, 96) and fr.depth.dtype == np.float32
        assert fr.color_intrinsic.shape == (6, 3, 3) and fr.pose.shape == (6, 4, 4)
        np.testing.assert_array_equal(fr.color_intrinsic, fr.depth_intrinsic)  # one simulated camera
        K = fr.depth_intrinsic[0]
        assert K[0, 0] == pytest.approx(0.8 * 96) and K[0, 0] == K[1, 1]
        R = fr.pose[:, :3, :3]
        np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.tile(np.eye(3), (6, 1, 1)), atol=1e-5)
        np.testing.assert_allclose(np.linalg.det(R), 1, atol=1e-5)
        assert (fr.depth >= 0).all() and (fr.depth <= 6.0).all() and (fr.color[fr.depth > 0].max(-1) > 0).all()
        assert n > 1000
    back_path = tmp_path / "s.h5"
    write_scene(back_path, scenes["kitchen"])
    back = read_scene(back_path, frames=True)
    np.testing.assert_array_equal(back.label, scenes["kitchen"].label)
    np.testing.assert_array_equal(back.frames.depth, scenes["kitchen"].frames.depth)


def test_same_arguments_give_bit_identical_scenes():
    a = S.generate_scene("synth_0000", "office", "val", 123, **TINY)
    b = S.generate_scene("synth_0000", "office", "val", 123, **TINY)
    for name in ("coord", "color", "normal", "label", "instance"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("color", "depth", "color_intrinsic", "depth_intrinsic", "pose"):
        np.testing.assert_array_equal(getattr(a.frames, name), getattr(b.frames, name))
    c = S.generate_scene("synth_0000", "office", "val", 124, **TINY)
    assert c.num_points != a.num_points or not np.array_equal(c.coord, a.coord)


def test_every_room_has_walls_floor_and_its_typical_furniture(scenes):
    found = {t: classes_of(s) for t, s in scenes.items()}
    for t, cls in found.items():
        assert {"wall", "floor"} <= cls, t
        assert len(cls) >= 4, (t, cls)  # walls, floor and some furniture or openings
    assert found["bathroom"] & {"toilet", "bathtub", "sink"}
    assert found["kitchen"] & {"counter", "refrigerator", "sink"}
    assert "bed" in found["bedroom"]
    assert found["office"] & {"desk", "chair"}
    assert found["living_room"] & {"sofa", "table", "chair"}
    assert {"table", "chair"} <= found["conference_room"]
    # bathroom fixtures only in bathrooms, beds only in bedrooms
    for t, cls in found.items():
        if t != "bathroom":
            assert not cls & {"toilet", "bathtub", "shower curtain"}, t
        if t != "bedroom":
            assert "bed" not in cls, t


def test_instances_have_one_class_and_walls_one_instance_per_plane(scenes):
    for t, scene in scenes.items():
        pairs = np.unique(np.stack([scene.instance, scene.label], 1), axis=0)
        assert len(np.unique(pairs[:, 0])) == len(pairs), t  # each instance maps to a single class
        assert len(np.unique(scene.instance[scene.label == C["floor"]])) == 1
        walls = np.unique(scene.instance[scene.label == C["wall"]])
        assert 1 <= len(walls) <= 4
        for w in walls:  # a wall instance is one vertical plane: x or y nearly constant
            xy = scene.coord[scene.instance == w, :2]
            assert xy.std(0).min() < 0.05, (t, w)
        floor = scene.coord[scene.label == C["floor"]]
        assert np.abs(floor[:, 2]).max() < 0.1  # the floor is the plane z = 0


def test_depth_pixels_back_project_onto_the_fused_points(scenes):
    for scene in scenes.values():
        fr, tree = scene.frames, cKDTree(scene.coord)
        for v in range(len(fr.depth)):
            rows, cols = np.nonzero(fr.depth[v] > 0)
            z, K, pose = fr.depth[v][rows, cols], fr.depth_intrinsic[v], fr.pose[v]
            cam = np.stack([(cols - K[0, 2]) / K[0, 0] * z, (rows - K[1, 2]) / K[1, 1] * z, z], 1)
            world = cam @ pose[:3, :3].T + pose[:3, 3]
            dist, _ = tree.query(world)
            assert len(dist) > 100
            assert np.median(dist) < 0.03 and np.quantile(dist, 0.99) < 2 * 0.03  # depth noise makes a few outliers


def test_normals_are_unit_and_face_the_scanner(scenes):
    for t, scene in scenes.items():
        np.testing.assert_allclose(np.linalg.norm(scene.normal, axis=1), 1, atol=1e-4)
        floor = scene.normal[scene.label == C["floor"], 2]
        if len(floor) > 200:  # (a tiny bedroom's floor can be almost hidden by the bed)
            assert np.median(floor) > 0.95, t  # floor normals point up, towards the cameras
        wall = scene.normal[scene.label == C["wall"], 2]
        assert np.median(np.abs(wall)) < 0.1, t  # wall normals are horizontal


def test_no_ceiling_is_scanned(scenes):
    for scene in scenes.values():
        z, nz = scene.coord[:, 2], scene.normal[:, 2]
        assert z.max() <= 3.0  # the tallest room; rooms are 2.5 to 3 m high
        high = z > 2.2
        if high.any():  # up there only walls (and window/door tops) are seen, never a horizontal ceiling
            assert (nz[high] < -0.7).mean() < 0.05
        points_on_walls = scene.coord[scene.label == C["wall"]]
        assert points_on_walls[:, 2].min() >= -0.05


def test_colour_varies_within_instances_and_between_instances_of_a_class(scenes):
    conf = scenes["conference_room"]
    chairs = [i for i in np.unique(conf.instance[conf.label == C["chair"]]) if (conf.instance == i).sum() > 30]
    means = np.array([conf.color[conf.instance == i].mean(0) for i in chairs])
    assert len(chairs) >= 2 and np.ptp(means, axis=0).max() > 3  # per-instance colour jitter
    for scene in scenes.values():
        floor = scene.color[scene.label == C["floor"]].astype(float)
        assert floor.std(0).max() > 2  # per-point noise and shading


def test_plan_is_deterministic_stable_under_growth_and_mixes_room_types():
    plan = synthetic_plan(14, 7, seed=3)
    assert plan == synthetic_plan(14, 7, seed=3)
    assert plan != synthetic_plan(14, 7, seed=4)
    assert sum(p["split"] == "train" for p in plan.values()) == 14 and len(plan) == 21
    assert all(re.fullmatch(r"synth_(train|val)_\d{4}", i) for i in plan)
    assert len({p["seed"] for p in plan.values()}) == len(plan)
    for split in ("train", "val"):
        assert {p["room_type"] for p in plan.values() if p["split"] == split} == set(ROOM_TYPES)
    bigger = synthetic_plan(20, 9, seed=3)  # more scenes: the existing ones are unchanged
    assert all(bigger[k] == v for k, v in plan.items())
    assert len(set(room_sequence(6))) == 6
    assert synthetic_plan(0, 0, seed=0) == {}
    with pytest.raises(ValueError):
        S.generate_scene("x", "garage", "train", 0, **TINY)


def test_class_presence_over_a_batch_resembles_scannet():
    plan = synthetic_plan(30, 0, seed=0)
    present = np.zeros(20)
    for scene_id, p in plan.items():
        scene = S.generate_scene(scene_id, **p, **TINY)
        present[np.unique(scene.label)] += 1
    freq = present / len(plan)
    assert freq[C["wall"]] >= 0.9 and freq[C["floor"]] >= 0.9
    assert 0.3 <= freq[C["chair"]] <= 0.95
    assert 0.05 <= freq[C["bed"]] <= 0.5 and 0.05 <= freq[C["toilet"]] <= 0.5
    assert (freq > 0).sum() >= 15  # most classes show up somewhere in 30 scenes


def test_the_dataset_builds_a_scene_from_its_id_alone():
    """A scene's job gets no scene count, so adding scenes reruns none of the existing ones."""
    from weakseg.datasets import DATASETS

    dataset = DATASETS.get("synthetic")({"seed": 3, "num_train": 3, "num_val": 1, "scan": TINY})
    assert {s: i["split"] for s, i in dataset.scenes().items()} == {
        "synth_train_0000": "train", "synth_train_0001": "train", "synth_train_0002": "train", "synth_val_0000": "val"}
    assert all(i["frames"] for i in dataset.scenes().values())  # every synthetic scene is scanned from frames
    plan = synthetic_plan(3, 1, seed=3)["synth_train_0002"]
    expected = S.generate_scene("synth_train_0002", plan["room_type"], "train", plan["seed"], **TINY)
    np.testing.assert_array_equal(dataset.load("synth_train_0002").coord, expected.coord)
