"""Densify (stage one from scene tags) on tiny rooms where the answer is known."""

import numpy as np
import pytest
import torch

from weakseg.methods import METHODS
from weakseg.methods.densify import match_primitives
from weakseg.train import fit, load_model, save_model
from test_mprm import tiny_room
from test_otoc import supervoxels
from test_train import DiesInEpoch, Killed

PARAMS = dict(voxel_size=0.1, channels=[16, 32], blocks=1, primitives=12, epochs=30, seed=0)
TRAIN = dict(epochs=30, batch_size=2, lr=0.01, weight_decay=0.0, seed=0)
BED = 3


def geometry(scene):
    g = supervoxels(scene)
    sv = g["supervoxel"]
    g["sv_color"] = (np.stack([np.bincount(sv, scene.color[:, k]) for k in range(3)], 1) / g["sv_size"][:, None]).astype(np.float32)
    g["pfh"] = np.zeros((len(g["sv_size"]), 125), np.float32)
    return g


def tags(scene):
    return {"kind": "scene_tags", "tags": sorted(set(scene.label.tolist()))}


def test_matching_pairs_each_tag_with_its_best_primitive_and_ignores_the_rest():
    scores = np.array([[5.0, 0, 0, 0], [0, 4, 0, 0], [1, 1, 0, 3], [0, 0, 0, 2.5], [4, 0, 0, 0]])
    tags = np.array([1, 1, 0, 1])  # class 2 is not in the scene: never assigned
    assert match_primitives(scores, tags).tolist() == [0, 1, 3, -1, -1]


def test_filtering_unassigns_a_group_that_disagrees_and_spreads_one_that_agrees():
    scores = np.array([[5.0, 0, 0], [0, 4, 0], [0, 0, 3], [1, 0, 0], [0, 1, 1]])
    tags = np.array([1, 1, 1])
    groups = np.array([0, 1, 1, 0, 2])  # group 1 holds the wall's and the bed's primitives
    assert match_primitives(scores, tags).tolist() == [0, 1, 2, -1, -1]
    assert match_primitives(scores, tags, groups).tolist() == [0, -1, -1, 0, -1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Eight rooms, floor and wall in all, a bed in half: the tags differ by the bed alone."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[], [BED]] * 4)]
    method = METHODS.get("densify")(20, PARAMS, "cpu")
    examples = [method.example(r, tags(r), geometry=geometry(r)) for r in rooms]
    path = tmp_path_factory.mktemp("densify") / "model.pt"
    history = fit(method, examples, TRAIN, path.with_suffix(".ckpt"))
    save_model(path, method, history)
    return method, rooms, path, history


def test_the_class_only_some_scenes_have_goes_to_the_primitive_only_they_have(trained, rng):
    """Matching labels bed what only the bed rooms have, in a room it has not seen: what is
    called bed is mostly the bed (it is 39 % of the room) and covers a good part of it. The
    matched primitive is one of the several that K-means splits the bed into, so how much of the
    bed it covers varies with the seed and the machine; these bounds hold for seeds 0-4."""
    method, _, _, _ = trained
    room = tiny_room(rng, [BED], "test")
    method.pseudo_from = "primitives"
    try:
        prob = method.pseudo_labels(room, tags(room), geometry=geometry(room))
        label, labelled = prob.argmax(1), prob.sum(1) > 0
    finally:
        method.pseudo_from = "classifier"
    bed = room.label == BED
    called_bed = labelled & (label == BED)
    assert called_bed.sum() > 0
    assert bed[called_bed].mean() > 0.6  # what is called bed is mostly the bed
    assert called_bed[bed].mean() > 0.25  # and a good part of the bed is called so


def test_the_classifiers_pseudo_labels_follow_the_tags(trained, rng):
    method, _, _, history = trained
    assert history[-1]["loss"] < history[0]["loss"]
    room = tiny_room(rng, [BED], "test")
    prob = method.pseudo_labels(room, tags(room), geometry=geometry(room))
    assert (prob[:, [c for c in range(20) if c not in (0, 1, BED)]] == 0).all()
    labelled = prob.sum(1) > 0
    label = prob.argmax(1)
    bed = room.label == BED
    assert (label[bed & labelled] == BED).mean() > 0.7
    assert (label[~bed & labelled] != BED).mean() > 0.7


def test_the_model_file_carries_the_primitives(trained):
    method, rooms, path, _ = trained
    fresh = METHODS.get("densify")(20, PARAMS, "cpu")
    load_model(path, fresh)
    assert torch.equal(fresh.prim, method.prim) and torch.equal(fresh.groups, method.groups)
    assert fresh.assign.keys() == {r.scene_id for r in rooms}


def test_bootstrapping_learns_the_previous_rounds_labels(rng, tmp_path):
    """Given the previous round's labels the method is a U-Net on them, clustering nothing."""
    torch.manual_seed(0)
    method = METHODS.get("densify")(20, PARAMS, "cpu")
    rooms = [tiny_room(rng, [BED], f"b{i}") for i in range(2)]
    previous = [np.where(r.label == BED, BED, 1) for r in rooms]  # "bed or floor"
    examples = [method.example(r, tags(r), geometry=geometry(r), previous=p) for r, p in zip(rooms, previous)]
    fit(method, examples, TRAIN | {"batch_size": 1}, tmp_path / "ckpt.pt")
    assert method.prim is None and method.extra_state() == {}
    label = method.predict(rooms[0]).argmax(1)
    assert (label == previous[0]).mean() > 0.8  # everything called floor: 0.6


def test_killed_and_resumed_equals_uninterrupted_kmeans_state_included(tmp_path, one_thread):
    """K-means at epochs 0, 2, 4; killed in epoch 3, the resumed run clusters nothing until 4 and
    must use the checkpointed centroids, groups and assignments to end bit-identical."""
    kill_epoch = 3
    params = PARAMS | {"epochs": 6, "kmeans_interval": 0.34, "warmup": 0.5, "match_start": 0.17}
    settings = TRAIN | {"epochs": 6}

    def run(path, kill=None):
        rng = np.random.default_rng(1)
        rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[], [BED]] * 2)]
        torch.manual_seed(0)
        method = METHODS.get("densify")(20, params, "cpu")
        examples = [method.example(r, tags(r), geometry=geometry(r)) for r in rooms]
        if kill is not None:
            with pytest.raises(Killed):
                fit(DiesInEpoch(method, kill, 2), examples, settings, path)
            torch.manual_seed(1)
            method = METHODS.get("densify")(20, params, "cpu")
        fit(method, examples, settings, path)
        return method

    straight, resumed = run(tmp_path / "a.ckpt"), run(tmp_path / "b.ckpt", kill_epoch)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert torch.equal(straight.prim, resumed.prim) and torch.equal(straight.groups, resumed.groups)
    for scene_id, assignment in straight.assign.items():
        assert torch.equal(assignment, resumed.assign[scene_id])
