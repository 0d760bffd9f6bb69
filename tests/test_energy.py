"""One Thing One Click's energy-minimising propagation (energy_propagation, Eq. 2-5) and
confidence selection (confidence_selection, Eq. 8) on hand-made supervoxel graphs whose answer is
known."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import weakseg
from weakseg.errors import WeaksegError
from weakseg.refine import REFINERS
from weakseg.refine import energy

RED, GREEN, BLUE = [200, 40, 40], [40, 200, 40], [40, 40, 200]
C = 10  # classes
K = 3  # points per supervoxel


def geometry(coords, colors, points_per_sv=K):
    """A geometry dict as io.read_geometry returns it: supervoxel j holds points j*K .. j*K+K-1."""
    s = len(coords)
    return {"supervoxel": np.repeat(np.arange(s), points_per_sv).astype(np.int32),
            "sv_size": np.full(s, points_per_sv, np.int32), "sv_coord": np.asarray(coords, np.float32),
            "sv_color": np.asarray(colors, np.float32), "sv_normal": np.tile(np.float32([0, 0, 1]), (s, 1)),
            "edges": np.stack([np.arange(s - 1), np.arange(1, s)], 1).astype(np.int32),
            "edge_contacts": np.ones(s - 1, np.int32), "pfh": np.full((s, 125), 1 / 125, np.float32)}


def predicted(label, p):
    """A probability row: `p` on `label`, the rest spread evenly."""
    row = np.full(C, (1 - p) / (C - 1), np.float32)
    row[label] = p
    return row


def per_point(sv_rows, points_per_sv=K):
    return np.repeat(np.asarray(sv_rows, np.float32), points_per_sv, 0)


def refine(name, prob, g, weak=None, features=None, **options):
    refiner = REFINERS.get(name)(**options)
    if name == "energy_propagation":
        return refiner(None, weak or {"tags": []}, prob, geometry=g, features=features or {})
    return refiner(None, weak or {"tags": []}, prob, geometry=g)


def sv_labels(out):
    return out[::K].argmax(1)


HAND = dict(kernels=("color", "position"))  # the hand-crafted kernels: no network features needed


def two_clusters(colors=None):
    """Six red supervoxels along x in [0, 1] and six blue ones in [5, 6]; supervoxel 0 predicts class
    2 and supervoxel 6 class 5, both confidently; the others are unlabelled (rows of zeros)."""
    x = np.r_[np.linspace(0, 1, 6), np.linspace(5, 6, 6)]
    coords = np.c_[x, np.zeros(12), np.zeros(12)]
    g = geometry(coords, colors if colors is not None else [RED] * 6 + [BLUE] * 6)
    rows = np.zeros((12, C), np.float32)
    rows[0], rows[6] = predicted(2, 0.95), predicted(5, 0.95)
    return g, per_point(rows)


# --------------------------------------------------------------------------- energy_propagation
def test_unlabelled_neighbours_take_the_label_of_their_lookalikes():
    g, prob = two_clusters()
    out = refine("energy_propagation", prob, g, **HAND)
    assert out.shape == prob.shape and out.dtype == np.float32
    assert (sv_labels(out) == [2] * 6 + [5] * 6).all()
    np.testing.assert_allclose(out.sum(1), 1, rtol=1e-5)  # every point labelled, with a distribution
    assert (out.reshape(12, K, C) == out[::K][:, None]).all()  # a point's row is its supervoxel's


# The two messages: Eq. 3's sum over pairs, and the default, that sum over the scene's mean kernel
# mass. In the two six-supervoxel clusters below that mass is about 5, so a weight of 5 is the sum.
MESSAGES = [dict(message="sum"), dict(message="normalised", pairwise_weight=5)]


@pytest.mark.parametrize("message", MESSAGES)
def test_a_neighbour_of_another_colour_keeps_its_own_answer(message):
    # supervoxel 3, among the red ones, predicts class 7 weakly
    g, prob = two_clusters()
    prob[3 * K:4 * K] = predicted(7, 0.6)
    assert sv_labels(refine("energy_propagation", prob, g, **HAND, **message))[3] == 2  # looks red: outvoted
    g, _ = two_clusters([RED] * 3 + [GREEN] + [RED] * 2 + [BLUE] * 6)
    out = refine("energy_propagation", prob, g, **HAND, **message)
    assert sv_labels(out)[3] == 7  # looks green: its own unary wins
    assert (np.delete(sv_labels(out), 3) == [2] * 5 + [5] * 6).all()


def test_without_kernels_the_result_is_the_pooled_prediction():
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(C), 12 * K).astype(np.float32)
    prob[3 * K:4 * K] = 0  # one supervoxel unlabelled
    g = geometry(rng.random((12, 3)), rng.integers(0, 255, (12, 3)))
    out = refine("energy_propagation", prob, g, kernels=[])
    pooled = prob.reshape(12, K, C).mean(1)
    expected = np.maximum(pooled, energy.EPS) / np.maximum(pooled, energy.EPS).sum(1, keepdims=True)
    expected[3] = 1 / C  # uniform unary
    np.testing.assert_allclose(out[::K], expected, atol=1e-6)
    assert (np.delete(sv_labels(out), 3) == np.delete(pooled.argmax(1), 3)).all()
    # pairwise_weight 0 is the same thing
    np.testing.assert_allclose(refine("energy_propagation", prob, g, pairwise_weight=0, **HAND), out, atol=1e-6)


@pytest.mark.parametrize("message, weights", [("sum", (0, 0.5, 1, 2, 3, 4, 8)), ("normalised", (0, 1, 2, 4, 6, 8, 16))])
def test_a_larger_pairwise_weight_spreads_further(message, weights):
    # a chain: supervoxel 0 is sure of class 3; each of the others leans weakly to a class of its own
    x = np.arange(8.0)
    g = geometry(np.c_[x, np.zeros(8), np.zeros(8)], [RED] * 8)
    prob = per_point([predicted(3, 0.99)] + [predicted(c, 0.3) for c in (1, 2, 4, 5, 6, 7, 8)])
    spread, mass = [], []
    for w in weights:
        out = refine("energy_propagation", prob, g, kernels=["position"], pairwise_weight=w, message=message)
        spread.append((sv_labels(out) == 3).sum())
        mass.append(out[::K, 3].sum())
    assert spread[0] == 1 and 1 < spread[3] < 8 and spread[-1] == 8
    assert (np.diff(spread) >= 0).all() and (np.diff(mass) > 0).all()


def test_a_supervoxel_is_not_its_own_neighbour():
    g = geometry(np.zeros((1, 3)), [RED])
    prob = per_point([predicted(4, 0.3)])
    out = refine("energy_propagation", prob, g, pairwise_weight=50, **HAND)
    np.testing.assert_allclose(out, prob, atol=1e-6)  # no pair: the pooled prediction, not sharpened


def test_clicks_keep_their_class_and_seed_their_lookalikes():
    g, prob = two_clusters()
    weak = {"tags": [8], "points": [1], "labels": [8]}  # a click of 8 where the network says 2
    out = refine("energy_propagation", prob, g, weak, **HAND)
    np.testing.assert_array_equal(out[:K], np.eye(C, dtype=np.float32)[[8] * K])  # fixed to the click
    assert (sv_labels(out) == [8] * 6 + [5] * 6).all()


def test_nothing_labelled_gives_nothing():
    g, prob = two_clusters()
    out = refine("energy_propagation", np.zeros_like(prob), g, **HAND)
    assert out.dtype == np.float32 and (out == 0).all()


def test_kernels_without_their_features_fail_clearly():
    g, prob = two_clusters()
    for features in ({}, None, {"relation": np.zeros((12, 4))}):
        with pytest.raises(WeaksegError, match="kernel 'unet' needs the stage-one method's per-supervoxel 'unet'"):
            REFINERS.get("energy_propagation")()(None, {}, prob, geometry=g, features=features)
    with pytest.raises(WeaksegError, match="'relation' features"):  # one row per supervoxel
        refine("energy_propagation", prob, g, features={"relation": np.zeros((11, 4))}, kernels=["relation"])
    with pytest.raises(WeaksegError, match="unknown kernel 'normal'"):
        REFINERS.get("energy_propagation")(kernels=["normal"])


def test_the_default_kernels_use_the_network_features():
    # colour and position alike everywhere but the U-Net and relation features split 0-5 from 6-11
    g, prob = two_clusters([RED] * 12)
    g["sv_coord"][:] = 0
    split = np.repeat([[0.0], [1.0]], 6, 0)
    features = {"unet": np.tile(split, 16), "relation": np.tile(split, 8)}
    assert (sv_labels(refine("energy_propagation", prob, g, features=features)) == [2] * 6 + [5] * 6).all()


def test_normalisation_makes_a_groups_scale_and_dimension_irrelevant():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)) * [1, 5, 0.1]
    for y in (x, x * 100 + 7, np.tile(x, 16)):  # scaled and shifted; the same feature repeated
        z = energy.normalised(y)
        assert abs((z ** 2).sum(1).mean() - 3) < 1e-9 and np.abs(z.mean(0)).max() < 1e-9
    d = lambda z: ((z[:, None] - z[None]) ** 2).sum(-1)  # noqa: E731
    np.testing.assert_allclose(d(energy.normalised(np.tile(x, 16))), d(energy.normalised(x)), atol=1e-9)
    assert (energy.normalised(np.full((5, 3), 7.0)) == 0).all()  # nothing to tell apart

    g, prob = two_clusters()
    prob[3 * K:4 * K] = predicted(7, 0.6)
    out = refine("energy_propagation", prob, g, **HAND)
    g["sv_coord"] = g["sv_coord"] * 100 + 3  # centimetres, elsewhere
    g["sv_color"] = g["sv_color"] / 255
    np.testing.assert_allclose(refine("energy_propagation", prob, g, **HAND), out, atol=1e-5)
    f3 = {"unet": g["sv_coord"]}
    f48 = {"unet": np.tile(g["sv_coord"], 16)}
    np.testing.assert_allclose(refine("energy_propagation", prob, g, features=f48, kernels=["unet"]),
                               refine("energy_propagation", prob, g, features=f3, kernels=["unet"]), atol=1e-5)


@pytest.mark.parametrize("message", MESSAGES)
def test_sigma_and_lambda_narrow_or_widen_a_kernel(message):
    g, prob = two_clusters([RED] * 3 + [GREEN] + [RED] * 2 + [BLUE] * 6)
    prob[3 * K:4 * K] = predicted(7, 0.6)
    assert sv_labels(refine("energy_propagation", prob, g, **HAND, **message))[3] == 7
    assert sv_labels(refine("energy_propagation", prob, g, color_sigma=100, **HAND, **message))[3] == 2  # colour blind
    assert sv_labels(refine("energy_propagation", prob, g, color_lambda=0, **HAND, **message))[3] == 2


def test_a_normalised_message_does_not_grow_with_the_scene():
    """Eq. 3's summed messages grow with the number of supervoxels: in a scene of many similar
    supervoxels the many weak votes take over a supervoxel whose own prediction is fairly sure
    of another class; normalised by the scene's kernel mass, the message stays at most the
    pairwise weight."""
    rng = np.random.default_rng(0)
    for s, taken_by_sum in ((4, False), (200, True)):
        g = geometry(rng.normal(0, 0.01, (s, 3)), [RED] * s)  # all alike: every kernel near 1
        prob = per_point([predicted(3, 0.99), predicted(6, 0.9)] + [predicted(3, 0.2)] * (s - 2))
        assert (sv_labels(refine("energy_propagation", prob, g, **HAND, message="sum"))[1] == 3) == taken_by_sum
        out = refine("energy_propagation", prob, g, **HAND)
        assert sv_labels(out)[1] == 6 and out[K, 6] > 0.5


def test_a_large_scene_is_computed_block_by_block_to_the_same_result(monkeypatch):
    rng = np.random.default_rng(2)
    s = 60
    g = geometry(rng.random((s, 3)) * 4, rng.integers(0, 255, (s, 3)))
    prob = per_point(np.where(rng.random((s, 1)) < 0.3, rng.dirichlet(np.ones(C), s), 0))
    whole = refine("energy_propagation", prob, g, **HAND)
    monkeypatch.setattr(energy, "BLOCK_BYTES", 8 * s * 7)  # 7 rows a block
    monkeypatch.setattr(energy, "KEEP_BYTES", 0)  # recomputed every iteration
    np.testing.assert_allclose(refine("energy_propagation", prob, g, **HAND), whole, atol=1e-5)


# --------------------------------------------------------------------------- confidence_selection
def confident_scene():
    """Supervoxels 0-4 of K points: 0 sure of class 1 (0.95), 1 unsure of 2 (0.6), 2 unsure of 3 (0.6),
    3 split: two points sure of 4, one sure of 5; 4 unlabelled."""
    g = geometry(np.zeros((5, 3)), [RED] * 5)
    prob = per_point([predicted(1, 0.95), predicted(2, 0.6), predicted(3, 0.6), predicted(4, 0.95), np.zeros(C)])
    prob[3 * K + 2] = predicted(5, 0.95)
    return g, prob


def test_confident_supervoxels_are_kept_and_the_others_dropped():
    g, prob = confident_scene()
    out = refine("confidence_selection", prob, g)
    assert out.shape == prob.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:K], prob[:K])  # kept as given
    assert (out[K:] == 0).all()  # unsure, points disagreeing (Eq. 8 averages over the points), unlabelled


def test_the_threshold_is_configurable():
    g, prob = confident_scene()
    out = refine("confidence_selection", prob, g, threshold=0.5)
    np.testing.assert_array_equal(out[:3 * K], prob[:3 * K])  # exp(-C_j) = 0.6 >= 0.5
    assert (out[3 * K:] == 0).all()
    assert (refine("confidence_selection", prob, g, threshold=0.96) == 0).all()


def test_clicked_supervoxels_are_always_kept_with_the_clicks_class():
    g, prob = confident_scene()
    weak = {"tags": [8], "points": [2 * K + 1], "labels": [8]}
    out = refine("confidence_selection", prob, g, weak)
    np.testing.assert_array_equal(out[2 * K:3 * K], np.eye(C, dtype=np.float32)[[8] * K])
    np.testing.assert_array_equal(out[:K], prob[:K])
    assert (out[K:2 * K] == 0).all() and (out[3 * K:] == 0).all()


# --------------------------------------------------------------------------- the module
def test_refine_jobs_do_not_load_torch():
    code = "import sys, weakseg.refine.energy; assert 'torch' not in sys.modules, 'torch loaded'"
    src = str(Path(weakseg.__file__).parents[1])
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": path})
