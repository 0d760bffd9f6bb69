"""The dataset readers: tiny hand-made sources with known answers, then the real samples in ../shared/data."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from weakseg.classes import S3DIS13, SCANNET20
from weakseg.datasets import DATASETS
from weakseg.errors import WeaksegError
from weakseg.io import read_scene, write_scene
from tiny_sources import (COLOR_K, COLOR_SIZE, DEPTH_K, DEPTH_SIZE, S3DIS_OFFICE, SCANNET_COORD, SCANNET_INSTANCE,
                          SCANNET_LABEL, SCANNET_SEGS, pointcept_scene, ply_folder_root, s3dis_root, scannet_root)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data"
if not REAL.is_dir():
    REAL = Path("/work/shared/data")
POINTCEPT = REAL / "scannet_pointcept"
S3DIS = REAL / "s3dis_fragments"


def reader(kind, **settings):
    return DATASETS.get(kind)(settings)


def test_every_type_is_registered_and_listing_imports_nothing_heavy():
    code = ("import sys; from weakseg.datasets import DATASETS; "
            "[DATASETS.get(t) for t in ('scannet', 'scannet_pointcept', 's3dis', 'ply_folder')]; "
            "print(sorted(m for m in ('torch', 'open3d', 'h5py', 'zarr') if m in sys.modules))")
    src = Path(__file__).resolve().parents[1] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": str(src)})
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- ScanNet raw
def test_scannet_lists_split_scenes_present_on_disk(tmp_path):
    root = scannet_root(tmp_path)
    scenes = reader("scannet", root=str(root)).scenes()
    assert sorted(scenes) == ["scene0000_00", "scene0001_00"]  # 0002 listed but absent, 0003 in no split
    assert scenes["scene0000_00"]["split"] == "train" and scenes["scene0001_00"]["split"] == "val"
    assert all(s["labelled"] and not s["frames"] for s in scenes.values())  # frames are off by default
    names = [Path(p).name for p in scenes["scene0000_00"]["sources"]]
    assert names == ["scene0000_00_vh_clean_2.ply", "scene0000_00_vh_clean_2.labels.ply",
                     "scene0000_00_vh_clean_2.0.010000.segs.json", "scene0000_00.aggregation.json",
                     "scannetv2-labels.combined.tsv"]


def test_scannet_maps_nyu40_labels_and_aggregation_instances(tmp_path):
    scene = reader("scannet", root=str(scannet_root(tmp_path))).load("scene0000_00")
    assert (scene.dataset, scene.split, scene.class_names) == ("scannet", "train", SCANNET20)
    np.testing.assert_array_equal(scene.coord, SCANNET_COORD)
    np.testing.assert_array_equal(scene.label, SCANNET_LABEL)  # 40 (otherprop) and 0 -> -1
    np.testing.assert_array_equal(scene.instance, SCANNET_INSTANCE)
    np.testing.assert_array_equal(scene.segment, SCANNET_SEGS)
    assert (scene.color == [200, 100, 50]).all()
    np.testing.assert_allclose(np.abs(scene.normal[:4]), [[0, 0, 1]] * 4, atol=1e-6)  # the floor's mesh normal
    np.testing.assert_allclose(np.abs(scene.normal[4:8]), [[1, 0, 0]] * 4, atol=1e-6)  # the wall's
    assert scene.frames is None  # frames are off by default
    assert (scene.label.dtype, scene.instance.dtype, scene.coord.dtype) == (np.int16, np.int32, np.float32)


def test_scannet_without_segs_or_aggregation_loads_with_unknown_instances(tmp_path):
    scene = reader("scannet", root=str(scannet_root(tmp_path))).load("scene0001_00")
    np.testing.assert_array_equal(scene.label, SCANNET_LABEL)
    assert (scene.instance == -1).all() and scene.segment is None


def test_scannet_frames_skip_invalid_poses_and_keep_both_intrinsics(tmp_path):
    root = scannet_root(tmp_path, frames=True)
    ds = reader("scannet", root=str(root), frames=True, frame_stride=1)
    assert any(p.endswith("pose") for p in ds.scenes()["scene0000_00"]["sources"])
    # only the scene whose frames were exported lists them (the DAG projects only those)
    assert {k: v["frames"] for k, v in ds.scenes().items()} == {"scene0000_00": True, "scene0001_00": False}
    assert ds.load("scene0001_00").frames is None
    frames = ds.load("scene0000_00").frames
    np.testing.assert_array_equal(frames.pose[:, 0, 3], [0, 1, 3])  # frame 2's pose is -inf
    assert frames.color.shape == (3, *COLOR_SIZE, 3) and frames.depth.shape == (3, *DEPTH_SIZE)
    np.testing.assert_allclose(frames.color[:, 0, 0, 0], [0, 40, 120], atol=2)  # JPEG
    np.testing.assert_allclose(frames.depth[:, 0, 0], [1.0, 1.001, 1.003])  # millimetres -> metres
    np.testing.assert_array_equal(frames.color_intrinsic, np.repeat(COLOR_K[None], 3, 0))
    np.testing.assert_array_equal(frames.depth_intrinsic, np.repeat(DEPTH_K[None], 3, 0))
    sparse = reader("scannet", root=str(root), frames=True, frame_stride=2).load("scene0000_00").frames
    np.testing.assert_array_equal(sparse.pose[:, 0, 3], [0])  # frames 0 and 2; 2 is invalid
    capped = reader("scannet", root=str(root), frames=True, frame_stride=1, max_frames=2).load("scene0000_00").frames
    np.testing.assert_array_equal(capped.pose[:, 0, 3], [0, 3])  # evenly spaced over the valid ones


def test_scannet_scene_round_trips_through_the_scene_file(tmp_path):
    scene = reader("scannet", root=str(scannet_root(tmp_path / "src", frames=True)), frames=True,
                   frame_stride=1).load("scene0000_00")
    write_scene(tmp_path / "s.h5", scene)
    back = read_scene(tmp_path / "s.h5", frames=True)
    np.testing.assert_array_equal(back.segment, SCANNET_SEGS)
    np.testing.assert_array_equal(back.frames.color_intrinsic, scene.frames.color_intrinsic)


# --------------------------------------------------------------------------- Pointcept
def test_pointcept_flat_layout_with_val_setting(tmp_path):
    labelled = pointcept_scene(tmp_path / "scene_a")
    pointcept_scene(tmp_path / "scene_b", labelled=False, normals=False, seed=1)
    ds = reader("scannet_pointcept", root=str(tmp_path), val=["scene_b"])
    scenes = ds.scenes()
    assert {k: (v["split"], v["labelled"], v["frames"]) for k, v in scenes.items()} == {
        "scene_a": ("train", True, False), "scene_b": ("val", False, False)}
    a = ds.load("scene_a")
    np.testing.assert_array_equal(a.coord, labelled["coord"])
    np.testing.assert_array_equal(a.color, labelled["color"])
    np.testing.assert_array_equal(a.label, labelled["segment20"])
    np.testing.assert_array_equal(a.instance, labelled["instance"])
    b = ds.load("scene_b")
    assert (b.label == -1).all() and (b.instance == -1).all()
    assert np.allclose(np.linalg.norm(b.normal, axis=1), 1, atol=1e-4)  # estimated


def test_pointcept_train_val_folders(tmp_path):
    pointcept_scene(tmp_path / "train" / "scene_a")
    pointcept_scene(tmp_path / "val" / "scene_b")
    scenes = reader("scannet_pointcept", root=str(tmp_path)).scenes()
    assert {k: v["split"] for k, v in scenes.items()} == {"scene_a": "train", "scene_b": "val"}


# --------------------------------------------------------------------------- S3DIS
def test_s3dis_rooms_labels_instances_and_quirks(tmp_path):
    ds = reader("s3dis", root=str(s3dis_root(tmp_path)))
    assert ds.label_set == "s3dis13"
    scenes = ds.scenes()
    assert {k: (v["split"], v["frames"]) for k, v in scenes.items()} == {"Area_1_office_1": ("train", False), "Area_5_hall_1": ("val", False)}
    scene = ds.load("Area_1_office_1")
    assert scene.class_names == S3DIS13
    np.testing.assert_allclose(scene.coord, S3DIS_OFFICE["coord"])  # "1.\x005" and "1x.5" read as 1.5
    np.testing.assert_array_equal(scene.color, S3DIS_OFFICE["color"])
    np.testing.assert_array_equal(scene.label, S3DIS_OFFICE["label"])  # stairs -> clutter
    np.testing.assert_array_equal(scene.instance, S3DIS_OFFICE["instance"])  # one instance per file
    assert scene.segment is None
    assert reader("s3dis", root=str(tmp_path), val_areas=[1]).scenes()["Area_1_office_1"]["split"] == "val"


# --------------------------------------------------------------------------- PLY folder
def test_ply_folder_with_and_without_labels(tmp_path):
    root, xyz = ply_folder_root(tmp_path / "scans")
    ds = reader("ply_folder", root=str(root), label_set="scannet20", val=["room_2"])
    assert {k: (v["split"], v["labelled"], v["frames"]) for k, v in ds.scenes().items()} == {
        "office_1": ("train", True, False), "room_2": ("val", False, False)}
    assert ds.scene_tags() is None
    office = ds.load("office_1")
    np.testing.assert_array_equal(office.coord, xyz)
    np.testing.assert_array_equal(office.color[:, 0], [0, 50, 100, 150, 255])
    np.testing.assert_array_equal(office.label, [-1, 0, 4, 4, 19])
    np.testing.assert_array_equal(office.instance, [-1, 0, 1, 1, 2])
    room = ds.load("room_2")
    assert (room.color == 128).all() and (room.label == -1).all() and not room.labelled
    assert np.isfinite(room.normal).all()


def test_ply_folder_tags_csv(tmp_path):
    root, _ = ply_folder_root(tmp_path / "scans")
    csv = tmp_path / "tags.csv"
    csv.write_text('scene_id,tags\noffice_1,chair; wall;chair\n\nroom_2,"shower curtain;floor"\n')
    ds = reader("ply_folder", root=str(root), tags_csv=str(csv))
    assert ds.scene_tags() == {"office_1": [0, 4], "room_2": [1, 15]}
    s3dis_tags = tmp_path / "s3dis_tags.csv"
    s3dis_tags.write_text("scene_id,tags\noffice_1,beam\n")
    assert reader("ply_folder", root=str(root), label_set="s3dis13", tags_csv=str(s3dis_tags)).scene_tags() == {"office_1": [3]}
    with pytest.raises(WeaksegError, match="s3dis_tags.csv:2: unknown class 'beam'"):
        reader("ply_folder", root=str(root), tags_csv=str(s3dis_tags)).scene_tags()


# --------------------------------------------------------------------------- real samples
needs_pointcept = pytest.mark.skipif(not POINTCEPT.is_dir(), reason=f"real Pointcept sample not found at {POINTCEPT}")
needs_s3dis = pytest.mark.skipif(not S3DIS.is_dir(), reason=f"real S3DIS fragments not found at {S3DIS}")


@needs_pointcept
@pytest.mark.parametrize("scene_id", ["scene0011_00", "scene0011_01"])
def test_real_pointcept_scenes_match_a_plain_numpy_read(scene_id):
    scene = reader("scannet_pointcept", root=str(POINTCEPT)).load(scene_id)
    folder = POINTCEPT / scene_id
    np.testing.assert_array_equal(scene.coord, np.load(folder / "coord.npy"))
    np.testing.assert_array_equal(scene.color, np.load(folder / "color.npy"))
    np.testing.assert_array_equal(scene.label, np.load(folder / "segment20.npy"))
    np.testing.assert_array_equal(scene.instance, np.load(folder / "instance.npy"))
    assert scene.num_points == {"scene0011_00": 237360, "scene0011_01": 239261}[scene_id]


@needs_s3dis
def test_real_s3dis_fragments_match_a_plain_numpy_read():
    ds = reader("s3dis", root=str(S3DIS))
    assert {k: v["split"] for k, v in ds.scenes().items()} == {
        "Area_1_conferenceRoom_1": "train", "Area_1_hallway_1": "train",
        "Area_5_conferenceRoom_1": "val", "Area_5_copyRoom_1": "val"}
    for scene_id, info in ds.scenes().items():
        scene = ds.load(scene_id)
        plain = [np.loadtxt(p, ndmin=2) for p in info["sources"]]
        np.testing.assert_allclose(scene.coord, np.concatenate(plain)[:, :3].astype(np.float32))
        np.testing.assert_array_equal(scene.color, np.concatenate(plain)[:, 3:])
        classes = [S3DIS13.index(Path(p).name.rsplit("_", 1)[0]) for p in info["sources"]]
        np.testing.assert_array_equal(scene.label, np.repeat(classes, [len(p) for p in plain]))
        assert scene.instance.max() == len(plain) - 1
