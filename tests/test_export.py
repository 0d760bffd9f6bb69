"""Coloured PLYs of a scene (weakseg.export): each label's palette colour on its points, the
unlabelled colour on -1, the error map's three colours, binary PLYs with x, y, z and red, green,
blue as CloudCompare and MeshLab read them."""

import numpy as np
import pytest
from plyfile import PlyData

from conftest import make_scene
from weakseg.classes import S3DIS13, S3DIS13_COLORS, SCANNET20, SCANNET20_COLORS, UNLABELLED_COLOR, palette
from weakseg.cli import main
from weakseg.errors import WeaksegError
from weakseg.export import CORRECT_COLOR, NOT_SCORED_COLOR, WRONG_COLOR, export_scene
from weakseg.io import write_labels, write_scene

TRUTH = [0, 1, 4, 4, -1, 19, 7]  # wall, floor, chair, chair, unannotated, otherfurniture, door
LABELS = {
    "stage1_round1": [0, 1, 4, 6, 4, 19, 7],
    "refined_round1": [0, 1, -1, 6, 4, 19, -1],  # a refiner left two points unlabelled
    "stage2": [0, 4, 4, 4, 1, 19, -1],
}


@pytest.fixture
def scene(rng):
    return make_scene(rng.uniform(0, 3, (7, 3)), TRUTH, color=rng.integers(0, 256, (7, 3)), scene_id="room_1", split="val")


def read_ply(path):
    ply = PlyData.read(str(path))
    (vertex,) = ply.elements
    return ply, vertex


def colors(vertex):
    return np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1)


def test_every_stage_ground_truth_input_and_errors_are_written_as_binary_colored_plys(scene, tmp_path):
    written = export_scene(scene, {k: np.array(v) for k, v in LABELS.items()}, "stage2", tmp_path / "room_1")
    names = ["error", "ground_truth", "input", "refined_round1", "stage1_round1", "stage2"]
    assert written == names and sorted(p.stem for p in (tmp_path / "room_1").iterdir()) == names
    for name in names:
        ply, vertex = read_ply(tmp_path / "room_1" / f"{name}.ply")
        assert not ply.text and ply.byte_order == "<" and vertex.name == "vertex"
        assert [(p.name, p.val_dtype) for p in vertex.properties] == [("x", "f4"), ("y", "f4"), ("z", "f4"),
                                                                     ("red", "u1"), ("green", "u1"), ("blue", "u1")]
        np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), scene.coord)
    _, vertex = read_ply(tmp_path / "room_1/input.ply")
    np.testing.assert_array_equal(colors(vertex), scene.color)


@pytest.mark.parametrize("name", ["ground_truth", *LABELS])
def test_each_label_has_its_palette_colour_and_unlabelled_points_their_own(scene, tmp_path, name):
    export_scene(scene, {k: np.array(v) for k, v in LABELS.items()}, "stage2", tmp_path / "room_1")
    labels = TRUTH if name == "ground_truth" else LABELS[name]
    _, vertex = read_ply(tmp_path / f"room_1/{name}.ply")
    expected = [UNLABELLED_COLOR if label == -1 else SCANNET20_COLORS[label] for label in labels]
    assert [tuple(c) for c in colors(vertex)] == expected
    assert SCANNET20_COLORS[4] == (188, 189, 34)  # chair, as the ScanNet benchmark draws it


def test_the_error_map_shows_correct_wrong_and_not_scored_points(scene, tmp_path):
    export_scene(scene, {k: np.array(v) for k, v in LABELS.items()}, "stage2", tmp_path / "room_1")
    _, vertex = read_ply(tmp_path / "room_1/error.ply")
    # truth  0 1 4 4 -1 19 7; stage two 0 4 4 4 1 19 -1: no truth or no label = not scored, as in evaluation
    assert [tuple(c) for c in colors(vertex)] == [CORRECT_COLOR, WRONG_COLOR, CORRECT_COLOR, CORRECT_COLOR,
                                                 NOT_SCORED_COLOR, CORRECT_COLOR, NOT_SCORED_COLOR]
    assert len({CORRECT_COLOR, WRONG_COLOR, NOT_SCORED_COLOR}) == 3


def test_a_scene_without_ground_truth_has_no_ground_truth_or_error_map(rng, tmp_path):
    scene = make_scene(rng.uniform(0, 3, (4, 3)), [-1] * 4, scene_id="mine")
    written = export_scene(scene, {"stage1_round1": np.array([0, 1, 1, -1])}, "stage1_round1", tmp_path / "mine")
    assert written == ["input", "stage1_round1"]


def test_s3dis_scenes_take_the_s3dis_palette(rng, tmp_path):
    assert palette(S3DIS13) == S3DIS13_COLORS and palette(SCANNET20) == SCANNET20_COLORS and palette(("a", "b")) is None
    scene = make_scene(rng.uniform(0, 3, (3, 3)), [0, 8, 12])
    scene.class_names = S3DIS13
    export_scene(scene, {}, None, tmp_path / "area")
    _, vertex = read_ply(tmp_path / "area/ground_truth.ply")
    assert [tuple(c) for c in colors(vertex)] == [S3DIS13_COLORS[0], S3DIS13_COLORS[8], S3DIS13_COLORS[12]]
    assert not (tmp_path / "area/error.ply").exists()  # no final labels given


def one_hot(labels, classes=20):
    prob = np.zeros((len(labels), classes), np.float32)
    for i, label in enumerate(labels):
        if label >= 0:
            prob[i, label] = 1
    return prob


def test_the_export_step_reads_the_scene_and_label_groups_and_names_a_bad_input(scene, tmp_path, capsys):
    write_scene(tmp_path / "room_1.h5", scene)
    write_labels(tmp_path / "pred.zarr/room_1", one_hot(LABELS["stage2"]))
    out = tmp_path / "export/clicks/room_1"
    argv = ["export", "--scene", str(tmp_path / "room_1.h5"), "--labels", f"stage2={tmp_path / 'pred.zarr/room_1'}",
            "--final", "stage2", "--out", str(out)]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["error.ply", "ground_truth.ply", "input.ply", "stage2.ply"]
    _, vertex = read_ply(out / "stage2.ply")
    assert tuple(colors(vertex)[1]) == SCANNET20_COLORS[4]

    # a missing label group, labels of another scene: one line naming the file, nothing written
    write_labels(tmp_path / "pred.zarr/other", one_hot([0, 1]))
    for labels, problem in ((tmp_path / "pred.zarr/gone", f"{tmp_path / 'pred.zarr/gone'}: no pseudo-label group here"),
                            (tmp_path / "pred.zarr/other", f"{tmp_path / 'room_1.h5'}: 2 stage2 labels for a scene of 7 points")):
        rc = main(["export", "--scene", str(tmp_path / "room_1.h5"), "--labels", f"stage2={labels}", "--final", "stage2",
                   "--out", str(tmp_path / "bad")])
        assert rc == 1 and capsys.readouterr().err.strip().splitlines() == [f"weakseg export: error: {problem}"]
        assert not (tmp_path / "bad").exists()
    with pytest.raises(WeaksegError, match="the final labels 'stage2' are not among those given \\(stage1_round1\\)"):
        export_scene(scene, {"stage1_round1": np.array(LABELS["stage1_round1"])}, "stage2", tmp_path / "bad")
