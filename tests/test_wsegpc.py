"""WSegPC (scene tags, RGB frames, supervoxels) on hand-made scenes and frames where the answer is known."""

import numpy as np
import pytest
import torch

from weakseg import preprocess
from weakseg.errors import WeaksegError
from weakseg.io import Frames
from weakseg.methods import METHODS
from weakseg.methods.wsegpc import cell_regions, class_thresholds, ema_update, info_nce, region_targets
from weakseg.models.image import ImageSegmenter, ResNet, cell_grid, resize_frames, sample_cells
from weakseg.train import fit, load_model, save_model
from conftest import make_scene
from test_mprm import tiny_room
from test_otoc import supervoxels
from test_train import DiesInEpoch, Killed

PARAMS = dict(voxel_size=0.1, channels=[16, 32], blocks=1, epochs=4, seed=0, features_2d=16, views=2,
              image_width=64, pairs=64, test_views={"rotations": 1, "scales": [1.0]})
TRAIN = dict(epochs=4, batch_size=2, lr=0.01, weight_decay=0.0, seed=0)
PROJECTIONS = {"depth_tolerance": 0.05, "depth_tolerance_relative": 0.02, "min_depth": 0.05}
COLOR_SIZE, DEPTH_SIZE = (48, 64), (24, 32)
# Colour and depth cameras differ in resolution and intrinsics, as ScanNet's do.
COLOR_K = np.array([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]], np.float32)
DEPTH_K = np.array([[20.0, 0, 15.5], [0, 20.0, 11.5], [0, 0, 1]], np.float32)


def looking_down(x, y, height):
    """Camera-to-world pose of a camera at (x, y, height) looking straight down (image x = world x)."""
    pose = np.eye(4, dtype=np.float32)
    pose[:3, :3] = np.diag([1, -1, -1])
    pose[:3, 3] = [x, y, height]
    return pose


def render(scene, poses):
    """Frames of `scene` seen from `poses`: each point splatted into the colour and depth images
    (nearest point wins), as a depth sensor and a registered colour camera would see it."""
    colors, depths = [], []
    for pose in poses:
        cam = (scene.coord - pose[:3, 3]) @ pose[:3, :3]
        order = np.argsort(-cam[:, 2])  # far first: near points overwrite
        images = []
        for k, size, value in ((COLOR_K, COLOR_SIZE, scene.color), (DEPTH_K, DEPTH_SIZE, cam[:, 2])):
            u = np.rint(k[0, 0] * cam[:, 0] / cam[:, 2] + k[0, 2]).astype(int)
            v = np.rint(k[1, 1] * cam[:, 1] / cam[:, 2] + k[1, 2]).astype(int)
            image = np.zeros((*size, 3) if value.ndim == 2 else size, value.dtype)
            inside = order[(u[order] >= 0) & (u[order] < size[1]) & (v[order] >= 0) & (v[order] < size[0]) & (cam[order, 2] > 0)]
            image[v[inside], u[inside]] = value[inside]
            images.append(image)
        colors.append(images[0])
        depths.append(images[1].astype(np.float32))
    v = len(poses)
    scene.frames = Frames(np.stack(colors), np.stack(depths), np.tile(COLOR_K, (v, 1, 1)), np.tile(DEPTH_K, (v, 1, 1)),
                          np.stack(poses).astype(np.float32))
    return scene


def room_with_frames(rng, objects, scene_id):
    scene = tiny_room(rng, objects, scene_id)
    return render(scene, [looking_down(0.8, 1.5, 3.0), looking_down(2.2, 1.5, 3.0), looking_down(1.5, 1.0, 2.5)])


def tags(scene):
    return {"kind": "scene_tags", "tags": sorted(set(scene.label.tolist()))}


def example(method, scene):
    return method.example(scene, tags(scene), geometry=supervoxels(scene), projections=preprocess.projections(scene, PROJECTIONS))


# --------------------------------------------------------------------------- point-pixel pairs and 2D regions
def test_a_point_seen_by_the_camera_is_paired_with_its_pixel_and_gets_that_pixels_feature():
    """One point 2 m below a camera: the projections pair it with the colour pixel the colour
    intrinsics give, and the pair's 2D feature is the feature map's value there, at whatever
    resolution the map is (here a map linear in x and y, which bilinear sampling reproduces)."""
    point = np.array([[0.3, -0.2, 0.0]], np.float32)
    scene = make_scene(np.r_[point, [[5.0, 5.0, 0.0]]], [1, 1])  # the second point is out of view
    depth = np.full((1, *DEPTH_SIZE), 2.0, np.float32)
    scene.frames = Frames(np.zeros((1, *COLOR_SIZE, 3), np.uint8), depth, COLOR_K[None], DEPTH_K[None], looking_down(0, 0, 2.0)[None])
    pairs = preprocess.projections(scene, PROJECTIONS)
    u, v = 31.5 + 40 * 0.3 / 2, 23.5 + 40 * 0.2 / 2  # y flips: the camera looks down
    assert pairs["point"].tolist() == [0] and (pairs["u"][0], pairs["v"][0]) == (round(u), round(v))

    rows, cols = cell_grid(*resize_frames(scene.frames.color, 32).shape[-2:])
    yy, xx = torch.meshgrid(torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32), indexing="ij")
    maps = torch.stack([xx, yy])[None]  # each cell holds its own (column, row)
    feature = sample_cells(maps, pairs["frame"], pairs["u"], pairs["v"], COLOR_SIZE)
    expected = [(pairs["u"][0] + 0.5) / COLOR_SIZE[1] * cols - 0.5, (pairs["v"][0] + 0.5) / COLOR_SIZE[0] * rows - 0.5]
    assert torch.allclose(feature[0], torch.tensor(expected, dtype=torch.float32))


def test_a_feature_cell_takes_the_region_of_the_point_its_depth_pixel_sees():
    """A floor of two regions (x < 0 and x >= 0) under the camera: cells left of the image
    centre see region 0, right of it region 1; cells whose depth reads nothing have none."""
    x, y = np.meshgrid(np.arange(-1.5, 1.5, 0.02), np.arange(-1.2, 1.2, 0.02))
    coord = np.c_[x.ravel(), y.ravel(), np.zeros(x.size)].astype(np.float32)
    region = (coord[:, 0] >= 0).astype(np.int64)
    depth = np.full((1, *DEPTH_SIZE), 2.0, np.float32)
    depth[0, :, -4:] = 0  # no return at the right edge
    frames = Frames(np.zeros((1, *COLOR_SIZE, 3), np.uint8), depth, COLOR_K[None], DEPTH_K[None], looking_down(0, 0, 2.0)[None])
    cells = cell_regions(frames, coord, region, (6, 8), max_distance=0.1)[0]
    assert (cells[:, :4] == 0).all() and (cells[:, 4:7] == 1).all() and (cells[:, 7] == -1).all()
    far = cell_regions(frames, coord + np.float32([0, 0, -1]), region, (6, 8), max_distance=0.1)[0]
    assert (far == -1).all()  # the depth's surface has no point near it


# --------------------------------------------------------------------------- the losses' parts
def test_info_nce_is_low_for_matching_pairs_and_high_for_shuffled_ones():
    keys = torch.eye(8) * 5
    matched = info_nce(keys + 0.1, keys, 0.07)
    shuffled = info_nce(keys.roll(1, 0), keys, 0.07)
    assert matched < 0.01 and shuffled > 10


def test_adaptive_thresholds_follow_eq_6_for_a_known_histogram():
    """Q = (50, 25, 10, 0): T_c = Q_c / max(Q) * eta; a fixed threshold is eta for every class."""
    labels = np.r_[np.zeros(50), np.ones(25), np.full(10, 2), np.full(7, -1)].astype(np.int64)
    assert np.allclose(class_thresholds(labels, 4, 0.8), [0.8, 0.4, 0.16, 0.0])
    assert np.allclose(class_thresholds(labels, 4, 0.8, adaptive=False), [0.8] * 4)


def test_region_targets_vote_within_regions_and_keep_what_passes_its_class_threshold():
    """Region 0 (6 points, mean 0.7 wall) and region 1 (3 points, mean 0.6 chair): adaptive
    thresholds 0.8 (wall) and 0.4 (chair) drop the wall region and keep the chair one; a point
    without a region gets no target; fixed at 0.5 both pass."""
    prob = torch.tensor([[0.9, 0.1]] * 3 + [[0.5, 0.5]] * 3 + [[0.4, 0.6]] * 3 + [[1.0, 0.0]], dtype=torch.float32)
    region = np.array([0] * 6 + [1] * 3 + [-1])
    assert region_targets(prob, region, 2, 0.8).tolist() == [-1] * 6 + [1] * 3 + [-1]
    assert region_targets(prob, region, 2, 0.5, adaptive=False).tolist() == [0] * 6 + [1] * 3 + [-1]


def test_the_ema_teacher_equals_the_student_with_momentum_0_and_stays_put_with_momentum_1(rng, tmp_path):
    scenes = [room_with_frames(rng, [3], "a"), room_with_frames(rng, [4], "b")]
    for momentum in (0.0, 1.0):
        torch.manual_seed(0)
        method = METHODS.get("wsegpc")(20, PARAMS | {"ema_momentum": momentum}, "cpu")
        before = {k: v.clone() for k, v in method.teacher.model.state_dict().items()}
        before_2d = {k: v.clone() for k, v in method.image_teacher.state_dict().items()}
        fit(method, [example(method, s) for s in scenes], TRAIN | {"epochs": 1}, tmp_path / f"{momentum}.ckpt")  # one step
        for teacher, student, start in ((method.teacher.model, method.student.model, before), (method.image_teacher, method.image, before_2d)):
            for name, value in teacher.state_dict().items():
                if momentum == 0:
                    assert torch.equal(value, student.state_dict()[name]), name
                elif value.is_floating_point() and "running" not in name:
                    assert torch.equal(value, start[name]), name
        assert not all(torch.equal(v, before[k]) for k, v in method.student.model.state_dict().items())  # the student learnt


def test_ema_update_copies_buffers_and_mixes_parameters():
    teacher, student = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    student.weight.data.fill_(3.0)
    student.running_mean.fill_(5.0)
    ema_update(teacher, student, 0.75)
    assert torch.allclose(teacher.weight, torch.full((2,), 1.5)) and torch.equal(teacher.running_mean, student.running_mean)


# --------------------------------------------------------------------------- Mix3D and the student's input
def test_mix3d_unites_the_tags_and_keeps_the_scenes_own_points_first(rng):
    method = METHODS.get("wsegpc")(20, PARAMS | {"prior_drop_rate": 0.0}, "cpu")
    a, b = room_with_frames(rng, [3], "a"), room_with_frames(rng, [4], "b")
    ea, eb = example(method, a), example(method, b)
    coord, color, normal, scene_tags, kept = method._student_input(ea, eb, np.random.default_rng(0))
    assert len(coord) == a.num_points + b.num_points and kept.all() and len(kept) == a.num_points
    assert np.flatnonzero(scene_tags).tolist() == [0, 1, 3, 4]
    lone = method._student_input(ea, None, np.random.default_rng(0))
    assert len(lone[0]) == a.num_points and np.flatnonzero(lone[3]).tolist() == [0, 1, 3]


def test_batches_pair_each_scene_with_another_at_the_mix3d_rate(rng):
    method = METHODS.get("wsegpc")(20, PARAMS, "cpu")
    scenes = [room_with_frames(rng, [], f"s{i}") for i in range(3)]
    examples = [example(method, s) for s in scenes]
    pairs = [p for batch in method.batches(examples, 2, np.random.default_rng(0)) for p in batch]
    assert sorted(e.scene_id for e, _ in pairs) == ["s0", "s1", "s2"] and all(o is not None and o is not e for e, o in pairs)
    method.mix3d_rate = 0.0
    assert all(o is None for batch in method.batches(examples, 2, np.random.default_rng(0)) for _, o in batch)


# --------------------------------------------------------------------------- training and pseudo labels
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    method = METHODS.get("wsegpc")(20, PARAMS | {"epochs": 12, "fuse_2d": True}, "cpu")
    scenes = [room_with_frames(rng, objects, f"r{i}") for i, objects in enumerate([[3], [4], [3, 4], []])]
    path = tmp_path_factory.mktemp("wsegpc") / "model.pt"
    history = fit(method, [example(method, s) for s in scenes], TRAIN | {"epochs": 12}, path.with_suffix(".ckpt"))
    save_model(path, method, history)
    return method, scenes, path


def test_pseudo_labels_are_the_teachers_over_the_tags_voted_within_supervoxels(trained):
    method, scenes, _ = trained
    scene = scenes[0]
    geometry = supervoxels(scene)
    prob = method.pseudo_labels(scene, tags(scene), geometry=geometry, projections=preprocess.projections(scene, PROJECTIONS))
    assert prob.shape == (scene.num_points, 20) and np.allclose(prob.sum(1), 1, atol=1e-5)
    assert (prob[:, [c for c in range(20) if c not in tags(scene)["tags"]]] == 0).all()
    for sv in np.unique(geometry["supervoxel"]):  # one distribution per supervoxel
        rows = prob[geometry["supervoxel"] == sv]
        assert np.allclose(rows, rows[0], atol=1e-6)


def test_the_model_file_carries_both_teachers(trained):
    method, scenes, path = trained
    fresh = METHODS.get("wsegpc")(20, PARAMS, "cpu")
    load_model(path, fresh)
    assert np.allclose(fresh.predict(scenes[1]), method.predict(scenes[1]), atol=1e-6)
    for name, value in method.image_teacher.state_dict().items():
        assert torch.equal(value, fresh.image_teacher.state_dict()[name]), name


def test_a_scene_without_frames_is_refused_naming_it(rng):
    method = METHODS.get("wsegpc")(20, PARAMS, "cpu")
    scene = tiny_room(rng, [3], "bare")
    with pytest.raises(WeaksegError, match="bare: wsegpc learns from the scene's RGB frames"):
        method.example(scene, tags(scene), geometry=supervoxels(scene), projections={})


def test_killed_and_resumed_equals_uninterrupted_teachers_included(tmp_path, one_thread):
    settings = TRAIN | {"epochs": 3, "batch_size": 1}
    params = PARAMS | {"epochs": 3, "rpc_start": 0.3}  # consistency from epoch 1 on

    def run(path, kill=None):
        rng = np.random.default_rng(1)
        scenes = [room_with_frames(rng, objects, f"k{i}") for i, objects in enumerate([[3], [4]])]
        torch.manual_seed(0)
        method = METHODS.get("wsegpc")(20, params, "cpu")
        examples = [example(method, s) for s in scenes]
        if kill is not None:
            with pytest.raises(Killed):
                fit(DiesInEpoch(method, kill, 2), examples, settings, path)
            torch.manual_seed(1)
            method = METHODS.get("wsegpc")(20, params, "cpu")
        fit(method, examples, settings, path)
        return method

    straight, resumed = run(tmp_path / "a.ckpt"), run(tmp_path / "b.ckpt", kill=2)
    for a, b in ((straight.model, resumed.model), (straight.teacher.model, resumed.teacher.model),
                 (straight.image_teacher, resumed.image_teacher)):
        for name, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[name]), name


# --------------------------------------------------------------------------- 2D weights
def test_2d_weights_load_from_a_state_dict_in_torchvisions_layout(tmp_path):
    torch.manual_seed(0)
    resnet = ResNet(18)
    state = resnet.state_dict() | {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}  # as torchvision saves it
    torch.save(state, tmp_path / "resnet18.pt")
    image = ImageSegmenter(20, 18, 16, weights=tmp_path / "resnet18.pt")
    assert torch.equal(image.layer3[1].conv2.weight, resnet.layer3[1].conv2.weight)


@pytest.mark.parametrize("content, message", [
    (None, "2D weights file not found"),
    (b"not a torch file", "not a weights-only torch state dict"),
    ("resnet34", "does not fit the ResNet"),
])
def test_a_bad_2d_weights_file_is_refused_naming_it(tmp_path, content, message):
    path = tmp_path / "weights.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "resnet34":
        torch.save(ResNet(34).state_dict(), path)
    with pytest.raises(WeaksegError, match=f"{path}: {message}"):
        ImageSegmenter(20, 18, 16, weights=path)


# --------------------------------------------------------------------------- a ScanNet export
# ScanNet's own calibration (scene0000_00): a 1296 x 968 colour camera and a 640 x 480 depth camera.
SCANNET_COLOR_K = np.array([[1169.6, 0, 646.3], [0, 1167.1, 489.9], [0, 0, 1]])
SCANNET_DEPTH_K = np.array([[577.6, 0, 318.9], [0, 578.7, 242.7], [0, 0, 1]])


def export_frames(scene_dir, coord, poses):
    """Frames as ScanNet's SensReader exports them: 4 x 4 intrinsics of both cameras, JPEG colour,
    16-bit PNG depth in millimetres, one pose file per frame (an invalid one included)."""
    import open3d as o3d
    from tiny_sources import scannet_export_layout

    scannet_export_layout(scene_dir, SCANNET_COLOR_K, SCANNET_DEPTH_K)
    for i, pose in enumerate(poses):
        np.savetxt(scene_dir / "pose" / f"{i}.txt", pose)
        images = []
        for k, (h, w) in ((SCANNET_COLOR_K, (968, 1296)), (SCANNET_DEPTH_K, (480, 640))):
            image = np.zeros((h, w), np.float64)
            if np.isfinite(pose).all():
                cam = (coord - pose[:3, 3]) @ pose[:3, :3]
                u = np.rint(k[0, 0] * cam[:, 0] / cam[:, 2] + k[0, 2]).astype(int)
                v = np.rint(k[1, 1] * cam[:, 1] / cam[:, 2] + k[1, 2]).astype(int)
                for j in np.argsort(-cam[:, 2]):  # far first: near points overwrite
                    image[max(v[j] - 20, 0):v[j] + 20, max(u[j] - 20, 0):u[j] + 20] = cam[j, 2]
            images.append(image)
        color = np.repeat((images[0] > 0)[..., None] * np.uint8(180), 3, 2)
        o3d.io.write_image(str(scene_dir / "color" / f"{i}.jpg"), o3d.geometry.Image(np.ascontiguousarray(color)))
        o3d.io.write_image(str(scene_dir / "depth" / f"{i}.png"), o3d.geometry.Image((images[1] * 1000).astype(np.uint16)))


def test_a_scannet_export_with_the_real_intrinsic_layout_runs_end_to_end(tmp_path):
    """Frames exported as SensReader does (colour and depth cameras apart, an invalid pose)
    through the reader, the projections, training and pseudo labels."""
    from tiny_sources import scannet_root
    from weakseg.datasets import DATASETS

    root = scannet_root(tmp_path)
    coord = DATASETS.get("scannet")({"root": str(root)}).load("scene0000_00").coord
    export_frames(root / "scans/scene0000_00", coord, [looking_down(0.5, 0.5, 2.5), np.full((4, 4), -np.inf), looking_down(0.4, 0.6, 2.0)])
    scene = DATASETS.get("scannet")({"root": str(root), "frames": True, "frame_stride": 1}).load("scene0000_00")
    assert scene.frames.color.shape == (2, 968, 1296, 3) and scene.frames.depth.shape == (2, 480, 640)
    pairs = preprocess.projections(scene, PROJECTIONS)
    assert set(pairs["frame"].tolist()) == {0, 1} and len(np.unique(pairs["point"])) == scene.num_points
    method = METHODS.get("wsegpc")(20, PARAMS | {"epochs": 2, "fuse_2d": True}, "cpu")
    geometry = {"supervoxel": np.arange(scene.num_points, dtype=np.int32) // 4, "sv_size": np.full(3, 4)}
    weak = tags(scene)
    example = method.example(scene, weak, geometry=geometry, projections=pairs)
    assert tuple(example.target.images.shape) == (2, 3, 48, 64)  # kept at the working resolution only
    assert (example.target.cell_region >= 0).any()
    fit(method, [example], TRAIN | {"epochs": 2}, tmp_path / "c.ckpt")
    prob = method.pseudo_labels(scene, weak, geometry=geometry, projections=pairs)
    assert prob.shape == (scene.num_points, 20) and np.allclose(prob.sum(1), 1, atol=1e-5)
