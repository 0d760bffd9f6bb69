"""The prior-based augmentation: negative scenes for floor, wall and ceiling from geometry alone."""

import numpy as np
import pytest

from weakseg.classes import S3DIS13, SCANNET20
from weakseg.datasets import synthetic as S
from weakseg.datasets.synthetic_plan import ROOM_TYPES
from weakseg.prior_drop import drop_prior_regions, prior_class_ids, side_layer
from conftest import box_surface

TINY = dict(width=96, height=72, num_frames=6, room_scale=0.6)


@pytest.fixture(scope="module")
def scenes():
    return [S.generate_scene(f"synth_{i:04d}", t, "train", 30 + i, **TINY) for i, t in enumerate(ROOM_TYPES)]


def test_prior_classes_are_those_the_label_set_has():
    assert prior_class_ids(SCANNET20) == {"floor": 1, "wall": 0}  # ScanNet has no ceiling
    assert prior_class_ids(S3DIS13) == {"floor": 1, "ceiling": 0, "wall": 2}


def test_the_layer_removed_is_the_plane_not_what_stands_on_it(rng):
    """A floor at z = 0 under a 0.4 m box: the bottom layer is the floor and the box's lowest
    centimetres, not the box's sides above the margin."""
    floor = np.c_[rng.uniform(0, 3, (4000, 2)), rng.normal(0, 0.003, 4000)]  # a scanned floor
    box, _ = box_surface([1, 1, 0], [1.5, 1.5, 0.4], 0.02, rng)
    coord = np.concatenate([floor, box]).astype(np.float32)
    layer = side_layer(coord, "z-")
    assert layer[:len(floor)].all()
    assert layer[len(floor):].mean() < 0.3
    assert not layer[len(floor):][box[:, 2] > 0.1].any()
    assert not side_layer(coord, "x-").any()  # the floor runs out to the edge: no wall there


def test_a_bed_denser_than_the_floor_it_hides_does_not_take_the_floors_place(rng):
    """A bedroom seen mostly from above: the bed's top, 0.45 m up, holds more points than the
    floor around it. The floor is removed, and the bed keeps everything above its lowest
    centimetres."""
    floor = np.c_[rng.uniform(0, 3, (1500, 2)), rng.normal(0, 0.003, 1500)]
    bed_top = np.c_[rng.uniform(0.5, 2.5, (4000, 2)), 0.45 + rng.normal(0, 0.003, 4000)]
    wall = np.c_[np.zeros(3000), rng.uniform(0, 3, 3000), rng.uniform(0, 2.5, 3000)]  # crosses every layer
    coord = np.concatenate([floor, bed_top, wall]).astype(np.float32)
    layer = side_layer(coord, "z-")
    assert layer[:len(floor)].all()
    assert not layer[len(floor):len(floor) + len(bed_top)].any()


def test_no_plane_no_negative(rng):
    """Where no side holds a plane (points spread evenly), nothing is removed and the tags stay:
    a dropped tag over a scene that still shows its class would be a wrong negative."""
    coord = rng.uniform(0, 3, (5000, 3)).astype(np.float32)
    tags = np.zeros(20, np.float32)
    tags[[0, 1, 5]] = 1
    keep, out = drop_prior_regions(coord, tags, {"floor": 1, "wall": 0}, 1.0, rng)
    assert keep.all() and np.array_equal(out, tags)


def test_rate_zero_changes_nothing_and_rate_one_drops_every_tagged_prior(scenes, rng):
    scene = scenes[ROOM_TYPES.index("living_room")]
    tags = np.zeros(20, np.float32)
    tags[np.unique(scene.label)] = 1
    ids = prior_class_ids(scene.class_names)
    keep, same = drop_prior_regions(scene.coord, tags, ids, 0.0, rng)
    assert keep.all() and np.array_equal(same, tags)
    keep, dropped = drop_prior_regions(scene.coord, tags, ids, 1.0, rng)
    assert dropped[ids["floor"]] == 0 and dropped[ids["wall"]] == 0
    assert np.array_equal(np.delete(dropped, list(ids.values())), np.delete(tags, list(ids.values())))
    assert 0.1 < keep.mean() < 1


def test_a_removal_that_would_leave_almost_nothing_is_not_made(scenes, rng):
    """A small bedroom is mostly floor and walls: after the floor, its walls stay (and tagged)."""
    scene = scenes[ROOM_TYPES.index("bedroom")]
    tags = np.zeros(20, np.float32)
    tags[np.unique(scene.label)] = 1
    keep, out = drop_prior_regions(scene.coord, tags, {"floor": 1, "wall": 0}, 1.0, rng)
    assert out[1] == 0 and out[0] == 1 and keep.mean() > 0.1
    assert keep[scene.label == 0].mean() > 0.9


def test_a_dropped_tag_leaves_under_five_percent_of_its_class():
    """Over four rooms of every type, each prior tag the augmentation drops leaves under 5 % of
    its class's points; it drops nearly all of them, and what it removes is nearly always mostly
    that class (ground truth read here only, to check). A floor hidden under a bed can lose its
    plane to the bed's top: a few removals may take more furniture than floor."""
    drops, pure = 0, 0
    pairs = 0
    for seed in range(4):
        for i, room_type in enumerate(ROOM_TYPES):
            scene = S.generate_scene(f"synth_{seed}_{i}", room_type, "train", 100 * seed + i, **TINY)
            tags = np.zeros(20, np.float32)
            tags[np.unique(scene.label)] = 1
            for name, cls in prior_class_ids(scene.class_names).items():
                members = scene.label == cls
                if not members.any():
                    continue
                pairs += 1
                keep, out = drop_prior_regions(scene.coord, tags, {name: cls}, 1.0, np.random.default_rng(0))
                if out[cls]:
                    continue
                assert keep[members].mean() < 0.05, (scene.scene_id, name, keep[members].mean())
                drops += 1
                pure += members[~keep].mean() > 0.5
    assert drops >= 0.9 * pairs, (drops, pairs)
    assert pure >= 0.95 * drops, (pure, drops)


def test_the_draws_do_not_depend_on_the_tags(rng):
    coord = np.random.default_rng(0).uniform(0, 3, (500, 3)).astype(np.float32)
    with_floor, without = np.zeros(20), np.zeros(20)
    with_floor[1] = 1
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    drop_prior_regions(coord, with_floor, {"floor": 1, "wall": 0}, 0.5, a)
    drop_prior_regions(coord, without, {"floor": 1, "wall": 0}, 0.5, b)
    assert a.random() == b.random()
