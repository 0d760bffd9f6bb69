"""Issue 4: supervoxels, graph, PFH and projections on hand-built scenes with known answers."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import box_surface, make_scene
from weakseg import io
from weakseg import preprocess as P
from weakseg.cli import main
from weakseg.errors import WeaksegError
from weakseg.preprocess import pfh, quality, supervoxels


def two_boxes(rng):
    """Two boxes side by side touching along x = 1 (different colours); label = instance = box."""
    a, na = box_surface((0, 0, 0), (1.0, 0.6, 0.6), 0.02, rng)
    b, nb = box_surface((1.0, 0, 0), (2.0, 0.6, 0.6), 0.02, rng)
    keep_a, keep_b = a[:, 0] < 0.995, b[:, 0] > 1.005  # drop the two shared faces
    a, na, b, nb = a[keep_a], na[keep_a], b[keep_b], nb[keep_b]
    coord = np.concatenate([a, b])
    label = np.r_[np.zeros(len(a), int), np.ones(len(b), int)]
    color = np.where(label[:, None] == 0, [200, 40, 40], [40, 40, 200]).astype(np.uint8)
    return make_scene(coord, label, color=color, normal=np.concatenate([na, nb]))


REPO = Path(__file__).resolve().parents[1]
GEO = {"voxel_size": 0.05, "seed_resolution": 0.3}


def test_two_touching_boxes_give_two_supervoxel_groups_with_an_edge(rng):
    scene = two_boxes(rng)
    g = P.geometry(scene, GEO)
    sv = g["supervoxel"]
    # every supervoxel lies on one box (the colour and normal terms keep them apart), except
    # for the few points whose 5 cm voxel straddles the contact plane
    s_count = len(g["sv_size"])
    counts = np.bincount(sv * 2 + scene.label, minlength=2 * s_count).reshape(s_count, 2)
    group = counts.argmax(1)
    assert counts.min(1).sum() < 0.01 * scene.num_points
    assert set(group) == {0, 1}
    # and the graph joins the two groups across the contact
    cross = group[g["edges"][:, 0]] != group[g["edges"][:, 1]]
    assert cross.any()
    # merging each box's supervoxels gives two connected groups
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    e = g["edges"][~cross]
    n, comp = connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(group),) * 2), directed=False)
    assert n == 2 and set(zip(comp, group)) == {(comp[group == 0][0], 0), (comp[group == 1][0], 1)}


def test_supervoxels_cover_every_point_for_each_method(rng):
    scene = two_boxes(rng)
    scene.segment = np.where(scene.label == 0, 5, -1).astype(np.int32)
    scene.segment[-10:] = 9
    for method in ("vccs", "vccs+region_growing", "mesh_segments"):
        g = P.geometry(scene, {**GEO, "method": method})
        sv = g["supervoxel"]
        assert sv.shape == (scene.num_points,) and sv.min() == 0
        assert np.array_equal(np.unique(sv), np.arange(len(g["sv_size"])))
        assert np.array_equal(np.bincount(sv), g["sv_size"])


def test_mesh_segments_need_segments(rng):
    with pytest.raises(WeaksegError, match="mesh segments"):
        P.geometry(two_boxes(rng), {"method": "mesh_segments"})


def test_graph_edges_are_symmetric_and_only_between_touching_supervoxels(rng):
    scene = two_boxes(rng)
    g = P.geometry(scene, GEO)
    sv, edges, vs = g["supervoxel"], g["edges"], GEO["voxel_size"]
    assert (edges[:, 0] < edges[:, 1]).all()
    assert len(np.unique(edges, axis=0)) == len(edges)
    # brute force: supervoxels touch when their points share a voxel or sit in 26-adjacent voxels
    key = np.floor((scene.coord - scene.coord.min(0)) / vs).astype(int)
    cells = {}
    for k, s in zip(map(tuple, key), sv):
        cells.setdefault(k, set()).add(int(s))
    truth = set()
    for k, ss in cells.items():
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dz in (-1, 0, 1):
                    for t in cells.get((k[0] + dx, k[1] + dy, k[2] + dz), ()):
                        for s in ss:
                            if s != t:
                                truth.add((min(s, t), max(s, t)))
    assert set(map(tuple, edges.tolist())) == truth
    adj = np.zeros((len(g["sv_size"]),) * 2, bool)
    adj[edges[:, 0], edges[:, 1]] = True
    adj = adj | adj.T
    assert (adj == adj.T).all() and not adj.diagonal().any()


def test_supervoxel_means(rng):
    scene = two_boxes(rng)
    g = P.geometry(scene, GEO)
    for s in (0, len(g["sv_size"]) - 1):
        m = g["supervoxel"] == s
        np.testing.assert_allclose(g["sv_coord"][s], scene.coord[m].mean(0), atol=1e-5)
        np.testing.assert_allclose(g["sv_color"][s], scene.color[m].mean(0), atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(g["sv_normal"], axis=1), 1, atol=1e-5)


def test_plane_gives_a_flat_pfh(rng):
    u, v = np.meshgrid(np.arange(0, 0.5, 0.02), np.arange(0, 0.5, 0.02))
    coord = np.c_[u.ravel(), v.ravel(), np.zeros(u.size)] + rng.normal(0, 0.002, (u.size, 3))
    h = pfh.supervoxel_pfh(coord, np.tile([0.0, 0.0, 1.0], (u.size, 1)), np.zeros(u.size, int), max_points=200)
    assert h.shape == (1, 125)
    flat = 2 + 5 * 2 + 25 * 2  # f1 = f2 = f3 = 0: the middle bin of each angle
    assert h[0, flat] > 0.99 and h[0].sum() == pytest.approx(1.0)  # (a few very close pairs tilt with the noise)
    exact = pfh.supervoxel_pfh(coord * [1, 1, 0], np.tile([0.0, 0.0, 1.0], (u.size, 1)), np.zeros(u.size, int), max_points=200)
    assert exact[0, flat] == pytest.approx(1.0)


def test_pfh_of_a_sphere_is_not_flat_and_rows_sum_to_one(rng):
    p = rng.normal(size=(300, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    sv = (p[:, 0] > 0).astype(int)
    h = pfh.supervoxel_pfh(p, p, sv, max_points=100)
    np.testing.assert_allclose(h.sum(1), 1, atol=1e-5)
    assert h[:, 62].max() < 0.5


def test_pfh_pair_features_match_pcl_by_hand():
    # p1 at the origin with normal z, p2 one step along x with normal tilted 45 degrees towards x
    r = np.sqrt(0.5)
    f1, f2, f3, ok = pfh.pair_features(np.array([[0.0, 0, 0]]), np.array([[0.0, 0, 1]]), np.array([[1.0, 0, 0]]), np.array([[r, 0, r]]))
    # |n2.d| > |n1.d| = 0, so p2 is the source: u = n2, d = -x, f3 = -n2.x = -r; v = d x u = y,
    # w = u x v = (-r, 0, r); f2 = v.n1 = 0, f1 = atan2(w.n1, u.n1) = atan2(r, r)
    assert ok[0] and f3[0] == pytest.approx(-r) and f2[0] == pytest.approx(0, abs=1e-7) and f1[0] == pytest.approx(np.pi / 4)
    # a normal along the line between the points: v = d x u = 0 and PCL skips the pair
    assert not pfh.pair_features(np.array([[0.0, 0, 0]]), np.array([[1.0, 0, 0]]), np.array([[1.0, 0, 0]]), np.array([[1.0, 0, 0]]))[3][0]
    # no swap when both normals are perpendicular to the line
    f1, f2, f3, ok = pfh.pair_features(np.array([[0.0, 0, 0]]), np.array([[0.0, 0, 1]]), np.array([[1.0, 0, 0]]), np.array([[0.0, 1, 0]]))
    # n1.d = 0, n2.d = 0: no swap; u = z, v = x cross z = -y, w = z cross -y = x; f2 = v.n2 = -1
    assert ok[0] and f2[0] == pytest.approx(-1.0) and f3[0] == pytest.approx(0.0)
    assert f1[0] == pytest.approx(np.arctan2(0.0, 0.0))


def test_fpfh_comes_from_open3d(rng):
    scene = two_boxes(rng)
    g = P.geometry(scene, {**GEO, "fpfh": True, "fpfh_radius": 0.1, "fpfh_max_nn": 30})
    assert g["fpfh"].shape == (scene.num_points, 33) and np.isfinite(g["fpfh"]).all()


def test_geometry_is_deterministic_and_round_trips(rng, tmp_path):
    scene = two_boxes(rng)
    a = P.geometry(scene, GEO)
    b = P.geometry(scene, GEO)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    io.write_geometry(tmp_path / "g.h5", a, {"scene_id": "s0", "settings": GEO})
    r = io.read_geometry(tmp_path / "g.h5")
    assert all(np.array_equal(a[k], r[k]) for k in a) and r["attrs"]["scene_id"] == "s0"


def test_geometry_readers_name_the_file(tmp_path):
    with pytest.raises(WeaksegError, match="g.h5"):
        io.read_geometry(tmp_path / "g.h5")
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(WeaksegError, match="bad.h5"):
        io.read_projections(tmp_path / "bad.h5")


def test_unknown_settings_are_refused(rng):
    with pytest.raises(WeaksegError, match="preprocess.geometry: unknown key.s. voxels"):
        P.geometry(two_boxes(rng), {"voxels": 0.1})
    with pytest.raises(WeaksegError, match="preprocess.projections: unknown key.s. depth"):
        P.projections(two_boxes(rng), {"depth": 0.1})
    with pytest.raises(WeaksegError, match="unknown 'slic'"):
        P.geometry(two_boxes(rng), {"method": "slic"})


def test_config_yaml_holds_the_defaults_and_its_schema_the_methods():
    """config.yaml's `preprocess:` is the library's defaults; the schema checks its values."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["preprocess"] == P.DEFAULTS
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["preprocess"]["properties"]
    assert schema["geometry"]["properties"]["method"]["enum"] == list(P.SUPERVOXEL_METHODS)
    for block, defaults in P.DEFAULTS.items():
        assert sorted(schema[block]["properties"]) == sorted(defaults)


# --------------------------------------------------------------------------- the CLI steps
def test_geometry_step_writes_the_arrays(rng, tmp_path):
    scene = two_boxes(rng)
    io.write_scene(tmp_path / "s0.h5", scene)
    assert main(["geometry", "--settings", json.dumps(GEO), "--scene", str(tmp_path / "s0.h5"), "--out", str(tmp_path / "g/s0.h5")]) == 0
    g = io.read_geometry(tmp_path / "g/s0.h5")
    expected = P.geometry(scene, GEO)
    assert sorted(k for k in g if k != "attrs") == sorted(expected)
    assert all(np.array_equal(g[k], expected[k]) for k in expected)
    assert g["attrs"]["scene_id"] == "s0" and json.loads(g["attrs"]["settings"]) == GEO
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["s0.h5"]  # no temporary left


def test_projections_step_writes_the_pairs_of_a_scene_with_frames(tmp_path):
    from weakseg.datasets.synthetic import generate_scene
    scene = generate_scene("p0", "bedroom", "train", 3, num_frames=2, width=40, height=30)
    io.write_scene(tmp_path / "p0.h5", scene)
    assert main(["projections", "--settings", "{}", "--scene", str(tmp_path / "p0.h5"), "--out", str(tmp_path / "p.h5")]) == 0
    p = io.read_projections(tmp_path / "p.h5")
    assert len(p["point"]) > 0 and np.array_equal(p["point"], P.projections(scene, {})["point"])


@pytest.mark.parametrize("step, settings, message", [
    ("geometry", '{"voxels": 0.1}', "weakseg geometry: error: config.yaml: preprocess.geometry: unknown key(s) voxels; known: method,"),
    ("projections", "{}", "weakseg projections: error: s0: projections need RGB-D frames; this scene has none"),
])
def test_steps_refuse_bad_settings_or_input_in_one_line_and_write_nothing(rng, tmp_path, capsys, step, settings, message):
    io.write_scene(tmp_path / "s0.h5", two_boxes(rng))
    out = tmp_path / "pre" / "s0.h5"
    assert main([step, "--settings", settings, "--scene", str(tmp_path / "s0.h5"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


# --------------------------------------------------------------------------- projections
def _frames(points_depth, K_d, K_c, pose, hd=48, wd=64, hc=96, wc=128):
    depth = np.zeros((1, hd, wd), np.float32)
    for (u, v), z in points_depth:
        depth[0, v, u] = z
    return io.Frames(color=np.zeros((1, hc, wc, 3), np.uint8), depth=depth, color_intrinsic=K_c[None].astype(np.float32),
                     depth_intrinsic=K_d[None].astype(np.float32), pose=pose[None].astype(np.float32))


K_D = np.array([[50.0, 0, 31.4], [0, 50.0, 23.4], [0, 0, 1]])
K_C = np.array([[110.0, 0, 64.0], [0, 105.0, 47.0], [0, 0, 1]])  # another resolution and centre, as in ScanNet


def _scene_with(coord, frames):
    s = make_scene(coord, np.zeros(len(coord), int))
    s.frames = frames
    return s


def test_point_in_front_of_the_camera_projects_to_the_hand_computed_pixel():
    pose = np.eye(4)
    pose[:3, 3] = [1.0, 2.0, 0.5]  # camera at (1, 2, 0.5) looking along +z (world), no rotation
    p = np.array([[1.21, 1.9, 2.5]])  # camera coordinates (0.21, -0.1, 2.0)
    ud, vd = 37, 21  # 50 * 0.105 + 31.4 = 36.65, 50 * -0.05 + 23.4 = 20.9
    uc, vc = 76, 42  # 110 * 0.105 + 64 = 75.55, 105 * -0.05 + 47 = 41.75
    fr = _frames([((ud, vd), 2.0)], K_D, K_C, pose)
    out = P.projections(_scene_with(np.r_[p, [[50.0, 50, 50]]], fr), {})
    assert out["point"].tolist() == [0] and out["frame"].tolist() == [0]
    assert (out["u"][0], out["v"][0]) == (uc, vc)  # the colour pixel, not the depth pixel
    assert out["depth"][0] == pytest.approx(2.0)


def test_rotated_camera_and_occlusion():
    # camera at the origin looking along world +x: camera z = world x, camera x = world -y, camera y = world -z
    R = np.array([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # columns: camera axes in world
    pose = np.eye(4)
    pose[:3, :3] = R
    near, far = np.array([[1.0, 0.0, 0.0]]), np.array([[3.0, 0.0, 0.0]])  # both on the optical axis
    u, v = 31, 23  # the depth camera's centre (31.4, 23.4)
    fr = _frames([((u, v), 1.0)], K_D, K_C, pose)  # the depth map sees the near surface
    out = P.projections(_scene_with(np.r_[near, far], fr), {})
    assert out["point"].tolist() == [0]  # the far point is hidden
    assert (out["u"][0], out["v"][0]) == (64, 47)
    fr = _frames([((u, v), 3.0)], K_D, K_C, pose)  # now the depth map sees the far one
    assert P.projections(_scene_with(np.r_[near, far], fr), {})["point"].tolist() == [1]


def test_points_behind_the_camera_or_outside_the_image_are_not_listed():
    pose = np.eye(4)
    fr = _frames([], K_D, K_C, pose)
    fr.depth[:] = 2.0  # a wall everywhere at z = 2
    pts = np.array([[0.0, 0.0, -2.0],  # behind (would project to the centre)
                    [5.0, 0.0, 2.0],  # far right: outside both images
                    [0.0, 0.0, 2.0]])  # visible
    out = P.projections(_scene_with(pts, fr), {})
    assert out["point"].tolist() == [2]
    # inside the depth image but outside the colour image: not listed either
    fr2 = _frames([], K_D, np.array([[300.0, 0, 64], [0, 300, 47], [0, 0, 1]]), pose)
    fr2.depth[:] = 2.0
    out = P.projections(_scene_with(np.array([[0.5, 0.0, 2.0]]), fr2), {})  # depth u = 44: inside; colour u = 139: outside
    assert len(out["point"]) == 0


def test_projections_of_synthetic_frames_agree_with_depth_and_round_trip(tmp_path):
    from weakseg.datasets.synthetic import generate_scene
    scene = generate_scene("p0", "bedroom", "train", 3, num_frames=4, width=80, height=60)
    a = P.projections(scene, {})
    b = P.projections(scene, {})
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(a["point"]) > 0.3 * scene.num_points  # most fused points are seen by some frame
    fr = scene.frames
    d = fr.depth[a["frame"], a["v"], a["u"]]  # colour = depth intrinsics in the synthetic data
    assert np.median(np.abs(d - a["depth"])) < 0.02
    io.write_projections(tmp_path / "p.h5", a, {"scene_id": "p0"})
    r = io.read_projections(tmp_path / "p.h5")
    assert all(np.array_equal(a[k], r[k]) for k in a)


def test_projections_need_frames(rng):
    with pytest.raises(WeaksegError, match="frames"):
        P.projections(two_boxes(rng), {})


# --------------------------------------------------------------------------- quality measures
def test_quality_measures_by_hand():
    coord = np.c_[np.arange(40.0), np.zeros(40), np.zeros(40)]
    inst = np.r_[np.zeros(20, int), np.ones(20, int)]
    nn = quality.knn(coord, 2)
    perfect = quality.evaluate(coord, inst, inst, inst, num_classes=2, k=2, nn=nn)
    assert perfect["boundary_recall"] == 1 and perfect["undersegmentation_error"] == 0 and perfect["oracle_miou"] == 100
    one = np.zeros(40, int)
    r = quality.evaluate(coord, one, inst, inst, num_classes=2, k=2, nn=nn)
    assert r["boundary_recall"] == 0 and r["undersegmentation_error"] == 0.5
    assert r["oracle_miou"] == pytest.approx(100 * 0.5 / 2)  # class 0 IoU 0.5, class 1 IoU 0


def test_region_growing_splits_a_fold_and_merge_follows_growsp():
    # an L: floor and wall meet at 90 degrees; region growing separates them
    u, v = np.meshgrid(np.arange(0, 1, 0.05), np.arange(0, 1, 0.05))
    floor = np.c_[u.ravel(), v.ravel(), np.zeros(u.size)]
    wall = np.c_[u.ravel(), np.zeros(u.size), v.ravel() + 0.05]
    xyz = np.r_[floor, wall]
    nrm, curv = supervoxels.normals_and_curvature(xyz, 0.08)
    reg = supervoxels.region_growing(xyz, nrm, curv, neighbours=8, angle_deg=5, curvature_threshold=1.0)
    flat_floor, flat_wall = reg[: len(floor)][floor[:, 1] > 0.2], reg[len(floor):][wall[:, 2] > 0.25]
    assert len(np.unique(flat_floor)) == 1 and len(np.unique(flat_wall)) == 1 and flat_floor[0] != flat_wall[0]
    patch = np.r_[np.zeros(6, int), np.ones(4, int)]
    region = np.array([3, 3, 3, 3, 7, 7, 7, 7, 3, 3])  # patch 0: 4/6 in region 3; patch 1: 2/4 in 7 (not > half)
    merged = supervoxels.growsp_merge(patch, region, 0.5)
    assert len(np.unique(merged[:6])) == 1 and len(np.unique(merged[6:])) == 1 and merged[0] != merged[6]
