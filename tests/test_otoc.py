"""One Thing One Click's networks (stage one) on tiny rooms where the answer is known; the
propagation and selection refiners are in tests/test_energy.py, the memory bank in test_relation.py."""

import numpy as np
import pytest
import torch

from weakseg.methods import METHODS
from weakseg.methods.otoc import expand_to_supervoxels, supervoxel_majority
from weakseg.train import fit, load_model, save_model
from weakseg.weak import simulate
from test_mprm import tiny_room

PARAMS = dict(voxel_size=0.1, channels=[16, 32], blocks=1, embedding_dim=8, seed=0)
TRAIN = dict(epochs=12, batch_size=2, lr=0.01, weight_decay=0.0, seed=0)


def supervoxels(scene, size=0.5):
    """An ideal over-segmentation: 0.5 m cells, split further where the true class changes (what
    a good VCCS gives); the geometry fields the method reads."""
    cell = np.floor(scene.coord / size).astype(np.int64)
    _, sv = np.unique(np.c_[cell, scene.label], axis=0, return_inverse=True)
    sv = sv.ravel()
    return {"supervoxel": sv.astype(np.int32), "sv_size": np.bincount(sv).astype(np.int32)}


def test_a_click_labels_its_whole_supervoxel_and_nothing_else():
    supervoxel = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    weak = {"points": [1, 7], "labels": [5, 3]}
    assert expand_to_supervoxels(weak, supervoxel, 3, 20).tolist() == [5, 5, 5, -1, -1, 3, 3, 3]
    # two clicks of different classes in one supervoxel: the more frequent wins, each keeps its own
    weak = {"points": [0, 1, 2], "labels": [4, 4, 6]}
    assert expand_to_supervoxels(weak, supervoxel, 3, 20).tolist() == [4, 4, 6, -1, -1, -1, -1, -1]
    assert supervoxel_majority(np.array([2, 2, -1, -1, -1, 1, -1, 1]), supervoxel, 3, 20).tolist() == [2, -1, 1]


def test_a_later_round_learns_from_the_previous_rounds_labels_with_the_clicks_kept(rng):
    method = METHODS.get("otoc")(20, PARAMS, "cpu")
    room = tiny_room(rng, [3], "r")
    weak = simulate(room, "clicks", seed=0)
    geometry = supervoxels(room)
    first = method.example(room, weak, geometry=geometry)
    assert np.isin(first.target.label, [-1, *weak["labels"]]).all()
    clicked_sv = np.unique(geometry["supervoxel"][weak["points"]])
    assert ((first.target.label >= 0) == np.isin(geometry["supervoxel"], clicked_sv)).all()
    previous = np.full(room.num_points, 0)  # a round that called everything a wall
    later = method.example(room, weak, geometry=geometry, previous=previous)
    assert later.target.label[weak["points"]].tolist() == weak["labels"]
    assert (np.delete(later.target.label, weak["points"]) == 0).all()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[3], [4], [3, 4], [4]])]
    method = METHODS.get("otoc")(20, PARAMS, "cpu")
    keys_before = method.bank.keys.clone()
    examples = [method.example(r, simulate(r, "clicks", seed=0), geometry=supervoxels(r)) for r in rooms]
    path = tmp_path_factory.mktemp("otoc") / "model.pt"
    history = fit(method, examples, TRAIN, path.with_suffix(".ckpt"))
    save_model(path, method, history)
    return method, keys_before, path, history


def test_training_lowers_both_losses_and_moves_the_memory_bank(trained):
    method, keys_before, _, history = trained
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    moved = (method.bank.keys - keys_before).norm(dim=1) > 1e-3
    assert moved[[0, 1, 3, 4]].all() and not moved[[2, 5, 19]].any()  # the classes clicked, only those


def test_pseudo_labels_keep_the_clicks_and_carry_supervoxel_features(trained, rng):
    method, *_ = trained
    room = tiny_room(rng, [3, 4], "test")
    weak, geometry = simulate(room, "clicks", seed=0), supervoxels(room)
    prob, features = method.pseudo_labels(room, weak, geometry=geometry)
    s = len(geometry["sv_size"])
    assert prob.shape == (room.num_points, 20) and np.allclose(prob.sum(1), 1, atol=1e-4)
    assert prob.argmax(1)[weak["points"]].tolist() == weak["labels"]
    assert features["unet"].shape == (s, 16) and features["relation"].shape == (s, 8)
    # the relation network separates the classes: a supervoxel's embedding is nearest its class's key
    emb = torch.nn.functional.normalize(torch.from_numpy(features["relation"]), dim=1)
    nearest = (emb @ method.bank.keys.T).argmax(1).numpy()
    truth = supervoxel_majority(room.label.astype(np.int64), geometry["supervoxel"].astype(np.int64), s, 20)
    largest = np.bincount(truth).max() / len(truth)  # (0.45: the floor's share of supervoxels)
    assert (nearest == truth).mean() > largest + 0.2
    # and the combined prediction segments the unseen room, from 12 epochs of one click per object
    assert (prob.argmax(1) == room.label).mean() > 0.65


def test_the_model_file_holds_the_memory_bank(trained, rng):
    method, _, path, _ = trained
    fresh = METHODS.get("otoc")(20, PARAMS, "cpu")
    assert not torch.equal(fresh.bank.keys, method.bank.keys)
    load_model(path, fresh)
    assert torch.equal(fresh.bank.keys, method.bank.keys)
    room = tiny_room(rng, [4], "again")
    weak, geometry = simulate(room, "clicks", seed=0), supervoxels(room)
    np.testing.assert_array_equal(fresh.pseudo_labels(room, weak, geometry=geometry)[0],
                                  method.pseudo_labels(room, weak, geometry=geometry)[0])


def test_without_the_relation_network_it_is_the_u_net_alone(rng):
    method = METHODS.get("otoc")(20, {**PARAMS, "relation": False}, "cpu")
    assert set(method.model) == {"unet"} and method.extra_state() == {}
    room = tiny_room(rng, [3], "r")
    prob, features = method.pseudo_labels(room, simulate(room, "clicks", seed=0), geometry=supervoxels(room))
    assert set(features) == {"unet"} and prob.shape == (room.num_points, 20)


def test_the_data_efficient_benchmarks_points_label_their_supervoxels_too(rng):
    """Table 2 of the paper: 20 given points per scene instead of one click per object."""
    from weakseg.config import check

    room = tiny_room(rng, [3, 4], "r")
    weak = simulate(room, "point_fraction", seed=0, points=20)
    geometry = supervoxels(room)
    target = METHODS.get("otoc")(20, PARAMS, "cpu").example(room, weak, geometry=geometry).target
    holding = np.unique(geometry["supervoxel"][weak["points"]])
    assert ((target.label >= 0) == np.isin(geometry["supervoxel"], holding)).all()
    assert (target.label[weak["points"]] == weak["labels"]).all()
    stage1 = {"method": "otoc", "voxel_size": 0.1, "channels": [8, 16], "blocks": 1, "epochs": 1, "batch_size": 1,
              "lr": 0.01, "weight_decay": 0.0}
    experiments = {"e": {"supervision": {"kind": "point_fraction", "points": 20}, "stage1": stage1, "rounds": 2}}
    assert check({"experiments": experiments}, {"a": {"split": "train", "labelled": True}}) == ["train"]
