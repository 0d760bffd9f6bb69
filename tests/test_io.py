"""The file contracts: scenes in HDF5, pseudo labels in Zarr, atomic writes."""

import numpy as np
import pytest

from weakseg.errors import WeaksegError
from weakseg.io import Frames, atomic_path, read_labels, read_scene, write_labels, write_scene
from conftest import make_scene


def test_scene_round_trip_keeps_arrays_attributes_and_frames(tmp_path, rng):
    scene = make_scene(rng.normal(size=(50, 3)), rng.integers(-1, 20, 50), scene_id="room_1", split="val")
    # colour and depth at different resolutions and intrinsics, as in ScanNet
    scene.frames = Frames(rng.integers(0, 255, (2, 8, 10, 3)).astype(np.uint8), rng.random((2, 4, 5)).astype(np.float32),
                          np.tile(np.diag([2.0, 2.0, 1.0]).astype(np.float32), (2, 1, 1)), np.tile(np.eye(3, dtype=np.float32), (2, 1, 1)),
                          np.tile(np.eye(4, dtype=np.float32), (2, 1, 1)))
    scene.segment = np.arange(50, dtype=np.int32) // 10
    write_scene(tmp_path / "room_1.h5", scene)
    back = read_scene(tmp_path / "room_1.h5", frames=True)
    assert (back.scene_id, back.split, back.class_names) == ("room_1", "val", scene.class_names)
    for name in ("coord", "color", "normal", "label", "instance"):
        np.testing.assert_array_equal(getattr(back, name), getattr(scene, name))
        assert getattr(back, name).dtype == getattr(scene, name).dtype
    for name in ("color", "depth", "color_intrinsic", "depth_intrinsic", "pose"):
        np.testing.assert_array_equal(getattr(back.frames, name), getattr(scene.frames, name))
    np.testing.assert_array_equal(back.segment, scene.segment)
    assert read_scene(tmp_path / "room_1.h5").frames is None  # frames only when asked


def test_missing_and_corrupt_scene_files_name_the_file(tmp_path):
    with pytest.raises(WeaksegError, match="missing.h5: scene file not found"):
        read_scene(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)  # an HDF5 signature, then nothing
    with pytest.raises(WeaksegError, match="bad.h5: not a readable HDF5 file"):
        read_scene(bad)


def test_invalid_scenes_are_refused_before_anything_is_written(tmp_path):
    coord = np.zeros((3, 3))
    coord[1, 0] = np.nan
    with pytest.raises(WeaksegError, match="NaN or inf"):
        write_scene(tmp_path / "nan.h5", make_scene(coord, [0, 0, 0]))
    with pytest.raises(WeaksegError, match="outside -1..19"):
        write_scene(tmp_path / "lab.h5", make_scene(np.zeros((3, 3)), [0, 20, 0]))
    with pytest.raises(WeaksegError, match="1 point"):
        write_scene(tmp_path / "one.h5", make_scene(np.zeros((1, 3)), [0]))
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_labels_are_argmax_and_zero_rows_are_ignored(tmp_path):
    prob = np.array([[0.1, 0.9, 0.0], [0.7, 0.2, 0.1], [0, 0, 0]], np.float32)
    write_labels(tmp_path / "pseudo.zarr" / "s0", prob, attrs={"method": "test"})
    got = read_labels(tmp_path / "pseudo.zarr" / "s0")
    np.testing.assert_array_equal(got.label, [1, 0, -1])
    np.testing.assert_allclose(got.confidence, [0.9, 0.7, 0.0], atol=1e-3)
    np.testing.assert_allclose(got.prob, prob, atol=1e-3)
    assert got.attrs["method"] == "test"
    assert sorted(p.name for p in (tmp_path / "pseudo.zarr").iterdir()) == ["s0", "zarr.json"]
