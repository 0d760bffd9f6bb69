"""Refiners on scenes where the right answer is known."""

import numpy as np

from weakseg.refine import REFINERS
from conftest import box_surface, make_scene


def test_tag_filter_removes_classes_outside_the_tags():
    prob = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], np.float32)
    out = REFINERS.get("tag_filter")()(None, {"tags": [0, 2]}, prob)
    assert (out[:, 1] == 0).all()
    np.testing.assert_array_equal(out[1], 0)  # its best class (1) is not a tag: unlabelled
    np.testing.assert_array_equal(out[[0, 2]], prob[[0, 2]] * [1, 0, 1])


def test_confidence_filter_drops_the_least_confident_share_of_each_class():
    conf = np.linspace(0.5, 1.0, 10, dtype=np.float32)
    prob = np.zeros((20, 2), np.float32)
    prob[:10, 0], prob[10:, 1] = conf, conf
    out = REFINERS.get("confidence_filter")(drop=0.2)(None, {}, prob)
    kept = out.max(1) > 0
    assert kept[:10].sum() == 8 and kept[10:].sum() == 8
    assert not kept[0] and not kept[1] and kept[2]


def test_dense_crf_repairs_noisy_labels_on_two_coloured_boxes(rng):
    a, _ = box_surface([0, 0, 0], [1, 1, 1], 0.05, rng)
    b, _ = box_surface([1.5, 0, 0], [2.5, 1, 1], 0.05, rng)
    coord = np.concatenate([a, b])
    truth = np.repeat([4, 6], [len(a), len(b)])
    color = np.where(truth[:, None] == 4, [200, 40, 40], [40, 40, 200]).astype(np.uint8)
    scene = make_scene(coord, truth, color=color)
    prob = np.zeros((len(coord), 20), np.float32)
    noisy = np.where(rng.random(len(coord)) < 0.3, 10 - truth, truth)  # 30 % flipped (4 <-> 6)
    prob[np.arange(len(coord)), noisy] = 0.6
    prob[np.arange(len(coord)), 10 - noisy] = 0.4
    out = REFINERS.get("dense_crf")()(scene, {"tags": [4, 6]}, prob)
    assert (prob.argmax(1) == truth).mean() < 0.75
    assert (out.argmax(1) == truth).mean() > 0.98
    assert (out[:, [c for c in range(20) if c not in (4, 6)]] == 0).all()  # no class appears from nowhere


def test_unknown_refiner_option_is_a_clear_config_error(tmp_path, capsys):
    from weakseg.cli import main
    from weakseg.io import write_labels, write_scene

    scene = make_scene(np.zeros((4, 3)) + np.arange(4)[:, None], [0, 0, 1, 1])
    write_scene(tmp_path / "s0.h5", scene)
    write_labels(tmp_path / "p.zarr/s0", np.eye(20, dtype=np.float32)[[0, 0, 1, 1]])
    (tmp_path / "w.json").write_text('{"tags": [0, 1]}')
    code = main(["refine", "--settings", '{"method": "mprm", "refiners": [{"name": "dense_crf", "iteration": 5}]}',
                 "--scene", str(tmp_path / "s0.h5"), "--weak", str(tmp_path / "w.json"),
                 "--labels", str(tmp_path / "p.zarr/s0"), "--out", str(tmp_path / "r.zarr/s0")])
    err = capsys.readouterr().err
    assert code == 1
    assert "config.yaml: refiner 'dense_crf':" in err and "'iteration'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.zarr/s0").exists()
