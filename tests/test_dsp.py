"""DSP (a few labelled points, cross- and intra-sample feature reallocation) on tiny rooms."""

import numpy as np
import pytest
import torch

from weakseg.methods import METHODS
from weakseg.methods.dsp import partner_candidates, reallocate
from weakseg.train import Example, fit
from weakseg.weak import simulate
from test_mprm import tiny_room
from test_train import DiesInEpoch, Killed

PARAMS = dict(voxel_size=0.1, channels=[16, 32, 48], blocks=1, epochs=20)
TRAIN = dict(epochs=20, batch_size=2, lr=0.01, weight_decay=0.0, seed=0)
WALL, FLOOR, BED, CHAIR = 0, 1, 3, 4


def labelled(target, scene_id="s"):
    return Example(scene_id, None, None, None, np.asarray(target))


def test_reallocated_features_are_weighted_sums_of_the_keys_without_residual():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    query = torch.tensor([[5.0, 0.0], [0.0, 0.0]])
    features, attention = reallocate(query, keys, torch.eye(2))
    assert torch.allclose(attention.sum(1), torch.ones(2))
    assert torch.allclose(attention[1], torch.tensor([0.5, 0.5]))  # no affinity: the mean of the keys
    assert attention[0, 0] > 0.99 and torch.allclose(features[0], keys[0], atol=0.01)  # not query + keys


def test_a_radius_limits_what_a_voxel_reads_from():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.8]])
    query = torch.tensor([[0.0, 10.0], [0.0, 10.0]])
    allowed = torch.tensor([[True, False, True], [False, False, False]])
    features, attention = reallocate(query, keys, torch.eye(2), allowed)
    assert attention[0, 1] == 0 and torch.allclose(features[0], keys[2], atol=0.01)  # its best key is out of reach
    assert attention[1, 1] > 0.85 and attention[1, 2] > 0.1  # allowed none: every key, as without a radius


def test_within_a_radius_smaller_than_a_voxel_isfr_reads_each_voxel_itself(rng):
    """Each voxel rebuilt from itself alone: the reallocated branch is the basic one, so L_SR is
    0 and the ISFR loss is the weak cross-entropy twice."""
    room = tiny_room(rng, [BED], "r")
    method = METHODS.get("dsp")(20, PARAMS | {"phases": ["isfr"], "intra_radius": 0.01}, "cpu")
    example = method.example(room, simulate(room, "point_fraction", points=30))
    method.phase = "isfr"
    isfr = method.loss([(example, None)], np.random.default_rng(0))
    method.phase = "csfr"  # with no partner: the weak cross-entropy alone
    basic = method.loss([(example, None)], np.random.default_rng(0))
    assert torch.allclose(isfr, 2 * basic)


def test_pairs_are_only_drawn_with_a_shared_labelled_class(rng):
    examples = [labelled([WALL, -1, FLOOR]), labelled([BED, -1]), labelled([-1, BED, CHAIR]), labelled([7, -1]), labelled([FLOOR])]
    assert partner_candidates(examples) == [[4], [2], [1], [], [0]]
    method = METHODS.get("dsp")(20, PARAMS, "cpu")
    method.phase = "csfr"
    for _ in range(20):
        plan = method.batches(examples, 2, rng)
        assert len(plan) == 3 and sorted(id(s) for batch in plan for s, _ in batch) == sorted(map(id, examples))
        for batch in plan:
            for scene, partner in batch:
                if partner is None:
                    assert scene is examples[3]  # no other scene labels class 7
                else:
                    assert set(scene.target) & set(partner.target) - {-1}
    method.phase = "isfr"  # intra-sample only: no partners
    assert all(p is None for batch in method.batches(examples, 2, rng) for _, p in batch)


def test_phases_split_the_epochs_evenly_in_order():
    method = METHODS.get("dsp")(20, PARAMS | {"epochs": 45}, "cpu")
    phases = [method.phase_of(e) for e in range(45)]
    assert phases == ["csfr"] * 23 + ["isfr"] * 22
    joint = METHODS.get("dsp")(20, PARAMS | {"phases": ["csfr+isfr"]}, "cpu")
    assert {joint.phase_of(e) for e in range(20)} == {"csfr+isfr"}


def test_a_point_attends_to_its_own_class_in_a_scene_where_that_class_is_unlabelled(tmp_path):
    """Scene a labels its bed, scene b has a bed with no labelled point (its floor and wall are
    labelled): CSFR training on the pair teaches a's bed voxels to put most of their cross
    affinity on b's bed (from 0.6 at the start; the bed is 37 % of b)."""
    rng = np.random.default_rng(0)
    a, b = tiny_room(rng, [BED], "a"), tiny_room(rng, [BED], "b")
    weak_a = simulate(a, "point_fraction", fraction=0.02)
    weak_b = simulate(b, "point_fraction", fraction=0.02)
    keep = np.asarray(weak_b["labels"]) != BED
    weak_b = weak_b | {"points": np.asarray(weak_b["points"])[keep].tolist(), "labels": np.asarray(weak_b["labels"])[keep].tolist()}
    torch.manual_seed(0)
    method = METHODS.get("dsp")(20, PARAMS | {"phases": ["csfr"]}, "cpu")
    examples = [method.example(a, weak_a), method.example(b, weak_b)]
    assert BED not in examples[1].target

    def mass_on_bed():
        """The mean cross affinity from a's all-bed voxels to b's mostly-bed voxels, and b's share of those."""
        attention, (rows_a, rows_b) = method.cross_attention(*examples)
        na, nb = attention.shape
        bed_a = (np.bincount(rows_a[a.label == BED], minlength=na) > 0) & (np.bincount(rows_a[a.label != BED], minlength=na) == 0)
        bed_b = np.bincount(rows_b[b.label == BED], minlength=nb) > np.bincount(rows_b[b.label != BED], minlength=nb)
        return attention[bed_a][:, bed_b].sum(1).mean(), bed_b.mean()

    before, share = mass_on_bed()
    fit(method, examples, TRAIN | {"batch_size": 1}, tmp_path / "ckpt.pt")
    after, _ = mass_on_bed()
    assert share < 0.4 and after > 0.8 and after > before + 0.2


def test_twenty_labelled_points_per_room_segment_an_unseen_room(rng, tmp_path):
    torch.manual_seed(0)
    method = METHODS.get("dsp")(20, PARAMS, "cpu")
    rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[BED], [CHAIR], [BED, CHAIR], [CHAIR]])]
    weak = [simulate(r, "point_fraction", points=20) for r in rooms]
    fit(method, [method.example(r, w) for r, w in zip(rooms, weak)], TRAIN, tmp_path / "ckpt.pt")
    test = tiny_room(rng, [BED, CHAIR], "test")
    test_weak = simulate(test, "point_fraction", points=20)
    label = method.pseudo_labels(test, test_weak).argmax(1)
    assert (label[test_weak["points"]] == test_weak["labels"]).all()  # given labels are kept
    assert (label == test.label).mean() > 0.75  # its largest class: 36 %


@pytest.mark.parametrize("kill_epoch", [1, 3])  # in the CSFR phase, in the ISFR phase
def test_killed_and_resumed_equals_uninterrupted_in_either_phase(tmp_path, one_thread, kill_epoch):
    settings = TRAIN | {"epochs": 4}

    def run(path, kill=None):
        rng = np.random.default_rng(1)
        rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[BED], [CHAIR], [BED, CHAIR], []])]
        torch.manual_seed(0)
        method = METHODS.get("dsp")(20, PARAMS | {"epochs": 4}, "cpu")
        examples = [method.example(r, simulate(r, "point_fraction", points=30)) for r in rooms]
        if kill is not None:
            with pytest.raises(Killed):
                fit(DiesInEpoch(method, kill, 2), examples, settings, path)
            torch.manual_seed(1)
            method = METHODS.get("dsp")(20, PARAMS | {"epochs": 4}, "cpu")
        fit(method, examples, settings, path)
        return method

    straight, resumed = run(tmp_path / "a.ckpt"), run(tmp_path / "b.ckpt", kill_epoch)
    assert [straight.phase_of(e) for e in range(4)] == ["csfr", "csfr", "isfr", "isfr"]
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
