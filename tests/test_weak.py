"""Weak labels simulated from ground truth: what an annotator of each kind would give, and its cost."""

import numpy as np
import pytest

from weakseg.errors import WeaksegError
from weakseg.weak import (CLICK_SECONDS, SCENE_TAG_SECONDS, SUBCLOUD_SECONDS, point_targets, simulate,
                          subcloud_members, subcloud_seeds)
from conftest import box_surface, make_scene


def two_rooms(rng):
    """A 6 x 2 m floor (class 1) with a bed-sized box (3) at x < 1.5 and a chair box (4) at x > 4.5:
    two instances of the floor's class would be one here, so the floor is one instance (id 10)."""
    floor, fn = box_surface([0, 0, -0.05], [6, 2, 0], 0.1, rng)
    bed, bn = box_surface([0.2, 0.2, 0], [1.4, 1.8, 0.5], 0.1, rng)
    chair, cn = box_surface([4.8, 0.5, 0], [5.3, 1.0, 0.8], 0.1, rng)
    coord = np.concatenate([floor, bed, chair])
    label = np.concatenate([np.full(len(floor), 1), np.full(len(bed), 3), np.full(len(chair), 4)])
    instance = np.concatenate([np.full(len(floor), 10), np.full(len(bed), 11), np.full(len(chair), 12)])
    label[:5] = -1  # a few unannotated points
    return make_scene(coord, label, normal=np.concatenate([fn, bn, cn]), instance=instance)


def test_scene_tags_are_the_annotated_classes(rng):
    weak = simulate(two_rooms(rng), "scene_tags")
    assert weak["tags"] == [1, 3, 4] and weak["tag_names"] == ["floor", "bed", "chair"]
    assert weak["annotation_seconds"] == SCENE_TAG_SECONDS


def test_subcloud_seeds_follow_n_equals_ceil_l_over_r():
    coord = np.array([[0, 0, 0], [5, 3, 1]], np.float32)
    seeds = subcloud_seeds(coord, 2.0)
    assert len(seeds) == 3 * 2 * 1  # ceil(5/2), ceil(3/2), ceil(1/2)
    np.testing.assert_allclose(np.unique(seeds[:, 0]), [5 / 6, 2.5, 25 / 6])
    np.testing.assert_allclose(sorted(set(seeds[:, 1])), [0.75, 2.25])


def test_subcloud_tags_name_only_the_classes_inside_each_ball(rng):
    scene = two_rooms(rng)
    weak = simulate(scene, "subcloud_tags", radius=2.0)
    assert weak["radius"] == 2.0 and weak["tags"] == [1, 3, 4]
    centers = np.array([s["center"] for s in weak["subclouds"]])
    for s in weak["subclouds"]:
        points, _ = subcloud_members(scene.coord, [s["center"]], 2.0)
        inside = scene.label[points]
        assert s["tags"] == sorted(set(inside[inside >= 0].tolist()))
    # the bed's end and the chair's end of the room are told apart
    west, east = weak["subclouds"][int(centers[:, 0].argmin())], weak["subclouds"][int(centers[:, 0].argmax())]
    assert 3 in west["tags"] and 4 not in west["tags"] and 4 in east["tags"] and 3 not in east["tags"]
    assert weak["annotation_seconds"] == pytest.approx(SUBCLOUD_SECONDS * len(weak["subclouds"]))


def test_one_click_per_instance_on_a_point_of_that_instance(rng):
    scene = two_rooms(rng)
    weak = simulate(scene, "clicks", seed=3)
    points = np.array(weak["points"])
    assert sorted(scene.instance[points].tolist()) == [10, 11, 12]
    assert weak["labels"] == scene.label[points].tolist() and (scene.label[points] >= 0).all()
    assert weak["annotation_seconds"] == pytest.approx(3 * CLICK_SECONDS)
    assert simulate(scene, "clicks", seed=3) == weak  # deterministic
    assert simulate(scene, "clicks", seed=4)["points"] != weak["points"]


def test_clicks_without_instances_are_refused(rng):
    scene = two_rooms(rng)
    scene.instance[:] = -1
    with pytest.raises(WeaksegError, match="instances"):
        simulate(scene, "clicks")


def test_point_fraction_samples_each_class_in_proportion(rng):
    scene = two_rooms(rng)
    weak = simulate(scene, "point_fraction", fraction=0.1)
    points = np.array(weak["points"])
    for c in (1, 3, 4):
        count = (scene.label == c).sum()
        assert (scene.label[points] == c).sum() == max(1, round(0.1 * count))
    assert len(set(weak["points"])) == len(points)
    fixed = simulate(scene, "point_fraction", points=20)
    assert len(fixed["points"]) == 20 and (scene.label[fixed["points"]] >= 0).all()
    target = point_targets(fixed, scene.num_points)
    assert (target >= 0).sum() == 20 and (target[fixed["points"]] == fixed["labels"]).all()


@pytest.mark.parametrize("kind, options, problem", [
    ("scribbles", {}, "unknown weak-label kind 'scribbles'"),
    ("subcloud_tags", {"radius": 2.0, "size": 3}, "unexpected keyword argument 'size'"),
    ("point_fraction", {}, "exactly one of"),
])
def test_bad_weak_label_settings_are_config_errors(rng, kind, options, problem):
    with pytest.raises(WeaksegError, match=problem) as err:
        simulate(two_rooms(rng), kind, **options)
    assert err.value.path == "config.yaml"
