"""The supervoxel refiners (supervoxel_vote, graph_propagation) on hand-made supervoxel graphs
whose answer is known, and the refine step handing them the scene's geometry."""

import numpy as np
import pytest

from conftest import box_surface, make_scene
from weakseg import io
from weakseg import preprocess as P
from weakseg.cli import main
from weakseg.refine import REFINERS

RED, BLUE = [200, 40, 40], [40, 40, 200]
UP, SIDE = [0, 0, 1], [1, 0, 0]


def graph(supervoxel, colors, normals, edges, pfh=None):
    """A geometry dict as io.read_geometry returns it, built by hand."""
    s = len(colors)
    return {"supervoxel": np.asarray(supervoxel, np.int32), "sv_size": np.bincount(supervoxel, minlength=s).astype(np.int32),
            "sv_coord": np.zeros((s, 3), np.float32), "sv_color": np.asarray(colors, np.float32),
            "sv_normal": np.asarray(normals, np.float32), "edges": np.asarray(edges, np.int32).reshape(-1, 2),
            "edge_contacts": np.ones(len(edges), np.int32),
            "pfh": np.full((s, 125), 1 / 125, np.float32) if pfh is None else np.asarray(pfh, np.float32)}


def one_hot(labels, c=20):
    return np.eye(c, dtype=np.float32)[labels]


def refine(name, prob, geometry, weak=None, **options):
    return REFINERS.get(name)(**options)(None, weak or {"tags": []}, prob, geometry=geometry)


def noisy_two_boxes(rng, flip=0.3):
    """Per-point labels 4 (box 0) and 6 (box 1), `flip` of them swapped, as probabilities 0.6/0.4."""
    truth = np.repeat([4, 6], 50)
    noisy = np.where(rng.random(100) < flip, 10 - truth, truth)
    prob = np.zeros((100, 20), np.float32)
    prob[np.arange(100), noisy] = 0.6
    prob[np.arange(100), 10 - noisy] = 0.4
    return truth, prob


# --------------------------------------------------------------------------- supervoxel_vote
def test_vote_gives_each_box_one_label(rng):
    truth, prob = noisy_two_boxes(rng)
    g = graph(np.repeat([0, 1], 50), [RED, BLUE], [UP, UP], [[0, 1]])
    out = refine("supervoxel_vote", prob, g)
    assert (prob.argmax(1) == truth).mean() < 0.8
    assert (out.argmax(1) == truth).all()
    np.testing.assert_allclose(out[:50], prob[:50].mean(0)[None].repeat(50, 0), rtol=1e-6)  # the mean probability
    assert (out[:, [c for c in range(20) if c not in (4, 6)]] == 0).all()


def test_points_without_labels_do_not_vote_and_a_supervoxel_without_voters_stays_unlabelled():
    prob = one_hot([3, 3, 3, 5, 0, 0])
    prob[[2, 4, 5]] = 0  # unlabelled points
    out = refine("supervoxel_vote", prob, graph([0, 0, 0, 0, 1, 1], [RED, BLUE], [UP, UP], [[0, 1]]))
    np.testing.assert_allclose(out[:4], [[0.0] * 3 + [2 / 3, 0, 1 / 3] + [0.0] * 14] * 4, atol=1e-7)
    assert (out[4:] == 0).all()  # no voter: unlabelled, not made up from its neighbour


def test_clicks_win_inside_their_supervoxel():
    prob = one_hot([4] * 6 + [6] * 4)
    sv = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    g = graph(sv, [RED, RED, BLUE], [UP, UP, UP], [[0, 1], [1, 2]])
    # one click of class 8 in supervoxel 0; clicks of 8 and 9 in supervoxel 1
    weak = {"tags": [8, 9], "points": [1, 3, 5], "labels": [8, 8, 9]}
    out = refine("supervoxel_vote", prob, g, weak)
    assert (out[[0, 2]].argmax(1) == 8).all() and out[0, 8] == 1  # the clicked supervoxel is the click's
    np.testing.assert_allclose(out[4, [8, 9]], [0.5, 0.5])  # two clicks in one supervoxel share it
    assert out[3].argmax() == 8 and out[5].argmax() == 9  # and the clicked points keep their own
    assert (out[6:].argmax(1) == 6).all()  # the network's vote where nobody clicked


def test_vote_on_real_supervoxels_of_two_boxes(rng):
    a, na = box_surface((0, 0, 0), (1.0, 0.6, 0.6), 0.04, rng)
    b, nb = box_surface((1.5, 0, 0), (2.5, 0.6, 0.6), 0.04, rng)
    coord = np.concatenate([a, b])
    truth = np.repeat([4, 6], [len(a), len(b)])
    scene = make_scene(coord, truth, color=np.where(truth[:, None] == 4, RED, BLUE), normal=np.concatenate([na, nb]))
    g = P.geometry(scene, {"seed_resolution": 0.3})
    prob = np.zeros((len(coord), 20), np.float32)
    noisy = np.where(rng.random(len(coord)) < 0.3, 10 - truth, truth)
    prob[np.arange(len(coord)), noisy] = 1
    out = REFINERS.get("supervoxel_vote")()(scene, {"tags": [4, 6]}, prob, geometry=g)
    assert (prob.argmax(1) == truth).mean() < 0.75 and (out.argmax(1) == truth).mean() > 0.97
    # each supervoxel takes its noisy majority (wrong only for the few the noise outvotes)
    sv = g["supervoxel"]
    votes = np.stack([np.bincount(sv, noisy == c, len(g["sv_size"])) for c in (4, 6)], 1)
    clear = votes[sv, 0] != votes[sv, 1]
    np.testing.assert_array_equal(out.argmax(1)[clear], np.array([4, 6])[votes.argmax(1)][sv][clear])


# --------------------------------------------------------------------------- graph_propagation
# Two boxes of two supervoxels each, one edge between the boxes: red 0 - red 1 - blue 2 - blue 3
BOXES = graph(np.repeat([0, 1, 2, 3], 5), [RED, RED, BLUE, BLUE], [UP, SIDE, UP, SIDE], [[0, 1], [1, 2], [2, 3]])


def test_a_click_spreads_over_its_box_but_not_across_a_strong_boundary():
    prob = np.zeros((20, 20), np.float32)  # nothing from the network
    out = refine("graph_propagation", prob, BOXES, {"tags": [7], "points": [2], "labels": [7]})
    assert (out[:10].argmax(1) == 7).all() and (out[:10].max(1) == 1).all()
    assert (out[10:] == 0).all()  # the blue box: no seed reaches it, so it stays unlabelled
    # with the second box as red as the first, the click reaches it too
    alike = dict(BOXES, sv_color=np.array([RED] * 4, np.float32))
    assert (refine("graph_propagation", prob, alike, {"points": [2], "labels": [7]}).argmax(1) == 7).all()


def test_seeds_on_both_sides_keep_their_boxes_and_no_class_appears_from_nowhere():
    prob = np.zeros((20, 20), np.float32)
    prob[15:] = one_hot([11] * 5) * 0.8  # the network's say on supervoxel 3 only
    out = refine("graph_propagation", prob, BOXES, {"points": [2], "labels": [7]})
    assert (out[:10].argmax(1) == 7).all() and (out[10:].argmax(1) == 11).all()
    np.testing.assert_allclose(out.sum(1), 1, rtol=1e-6)  # distributions
    assert (out[:, [c for c in range(20) if c not in (7, 11)]] == 0).all()


def test_propagation_outvotes_a_noisy_supervoxel_in_a_uniform_region():
    chain = graph(np.arange(5), [RED] * 5, [UP] * 5, [[0, 1], [1, 2], [2, 3], [3, 4]])
    prob = one_hot([4, 4, 6, 4, 4])
    prob[2, [4, 6]] = [0.4, 0.6]
    assert (refine("graph_propagation", prob, chain).argmax(1) == 4).all()
    assert refine("supervoxel_vote", prob, chain).argmax(1)[2] == 6  # the vote alone keeps it


def test_propagation_is_zhous_closed_form():
    rng = np.random.default_rng(1)
    s = 6
    colors = rng.uniform(100, 140, (s, 3))
    normals = np.tile(UP, (s, 1))
    edges = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 5], [1, 4]]
    g = graph(np.arange(s), colors, normals, edges)
    prob = rng.random((s, 20)).astype(np.float32) * (rng.random((s, 20)) < 0.3)
    alpha, sigma = 0.8, 30.0
    out = refine("graph_propagation", prob, g, alpha=alpha, color_sigma=sigma)
    w = np.zeros((s, s))
    for i, j in edges:
        w[i, j] = w[j, i] = np.exp(-((colors[i] - colors[j]) ** 2).sum() / (2 * sigma ** 2))
    d = np.diag(1 / np.sqrt(w.sum(1)))
    f = (1 - alpha) * np.linalg.inv(np.eye(s) - alpha * d @ w @ d) @ prob
    np.testing.assert_allclose(out, f / f.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_pfh_similarity_can_cut_an_edge():
    pfh = np.zeros((2, 125), np.float32)
    pfh[0, 62], pfh[1, 0] = 1, 1  # flat vs anything else: L1 distance 2
    g = graph([0, 0, 1, 1], [RED, RED], [UP, UP], [[0, 1]], pfh=pfh)
    click = {"points": [0], "labels": [3]}
    assert (refine("graph_propagation", np.zeros((4, 20), np.float32), g, click).argmax(1) == 3).all()
    cut = refine("graph_propagation", np.zeros((4, 20), np.float32), g, click, pfh_sigma=0.2)
    assert (cut[2:] == 0).all()


# --------------------------------------------------------------------------- the refine step
def _files(tmp_path):
    scene = make_scene(np.c_[np.arange(4.0), np.zeros(4), np.zeros(4)], [4, 4, 6, 6])
    io.write_scene(tmp_path / "s0.h5", scene)
    io.write_labels(tmp_path / "p.zarr/s0", one_hot([4, 6, 6, 6]))
    (tmp_path / "w.json").write_text('{"tags": [4, 6], "points": [], "labels": []}')
    io.write_geometry(tmp_path / "g.h5", graph([0, 0, 1, 1], [RED, BLUE], [UP, UP], [[0, 1]]))
    return ["refine", "--settings", '{"method": "sparse_points", "refiners": [{"name": "supervoxel_vote"}, {"name": "tag_filter"}]}',
            "--scene", str(tmp_path / "s0.h5"), "--weak", str(tmp_path / "w.json"), "--labels", str(tmp_path / "p.zarr/s0"),
            "--out", str(tmp_path / "r.zarr/s0")]


def test_refine_step_gives_the_geometry_to_the_refiners_that_need_it(tmp_path):
    assert main([*_files(tmp_path), "--geometry", str(tmp_path / "g.h5")]) == 0
    refined = io.read_labels(tmp_path / "r.zarr/s0")
    np.testing.assert_allclose(refined.prob[:2, [4, 6]], [[0.5, 0.5]] * 2)
    assert refined.label.tolist()[2:] == [6, 6] and refined.attrs["method"] == "sparse_points+supervoxel_vote+tag_filter"


@pytest.mark.parametrize("extra, message", [
    ([], "weakseg refine: error: --geometry: refiner 'supervoxel_vote' needs the scene's geometry; none given"),
    (["--geometry", "{tmp}/s0.h5"], "s0.h5: not a weakseg geometry file"),
])
def test_refine_step_without_the_geometry_it_needs_fails_cleanly(tmp_path, capsys, extra, message):
    code = main([*_files(tmp_path), *(e.format(tmp=tmp_path) for e in extra)])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "r.zarr/s0").exists()


def test_geometry_of_another_scene_is_refused(tmp_path, capsys):
    args = _files(tmp_path)
    io.write_geometry(tmp_path / "g3.h5", graph([0, 0, 1], [RED, BLUE], [UP, UP], [[0, 1]]))
    assert main([*args, "--geometry", str(tmp_path / "g3.h5")]) == 1
    assert "g3.h5: geometry of 3 points for a scene of 4" in capsys.readouterr().err
