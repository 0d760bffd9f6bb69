"""Stage one as a plug-in point: a method that declares every need gets each of them, per scene,
in its training and pseudo-label jobs (the `weakseg` steps the DAG runs), and its extra state
travels through the model file."""

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_scene
from weakseg import io
from weakseg.cli import main
from weakseg.methods import METHODS
from weakseg.train import Example

SEEN = {}  # what the probe was given, by job


@METHODS.register("needs_probe")
class NeedsProbe:
    """Records what it is given; learns one number so that the trainer has something to do."""

    def __init__(self, num_classes, params, device):
        self.num_classes = num_classes
        self.model = nn.Linear(params.get("width", 1), 1)
        self.steps = torch.zeros(())

    def example(self, scene, weak, geometry, projections, previous=None):
        SEEN.setdefault("train", []).append((scene.scene_id, scene.frames is not None, len(geometry["sv_size"]),
                                             len(projections["point"]), None if previous is None else previous.tolist()))
        return Example(scene.scene_id, scene.coord, scene.color, scene.normal, None)

    def loss(self, examples, rng):
        return self.model(torch.ones(1, 1)).pow(2).sum()

    def after_step(self, epoch, step):
        self.steps += 1

    def extra_state(self):
        return {"steps": self.steps.clone()}

    def load_extra_state(self, state):
        self.steps = state["steps"].clone()

    def pseudo_labels(self, scene, weak, geometry, projections, previous=None):
        SEEN["pseudo"] = (scene.scene_id, scene.frames is not None, len(geometry["sv_size"]), int(self.steps))
        prob = np.zeros((scene.num_points, self.num_classes), np.float32)
        prob[:, 1] = 1
        return prob, {"probe": np.arange(len(geometry["sv_size"]), dtype=np.float32)[:, None]}


METHODS.declare("needs_probe", __name__, accepts={"clicks"}, needs=("geometry", "projections", "frames", "previous"))


def scene_files(tmp_path, scene_id, supervoxels):
    coord = np.random.default_rng(0).random((6, 3)).astype(np.float32)
    scene = make_scene(coord, [0, 0, 1, 1, 2, 2], scene_id=scene_id)
    eye = np.eye(3, dtype=np.float32)[None]
    scene.frames = io.Frames(np.zeros((1, 4, 4, 3), np.uint8), np.ones((1, 4, 4), np.float32), eye, eye, np.eye(4, dtype=np.float32)[None])
    io.write_scene(tmp_path / f"{scene_id}.h5", scene)
    sv = np.arange(6) % supervoxels
    io.write_geometry(tmp_path / f"{scene_id}.geometry.h5", {
        "supervoxel": sv, "sv_size": np.bincount(sv), "sv_coord": np.zeros((supervoxels, 3)), "sv_color": np.zeros((supervoxels, 3)),
        "sv_normal": np.zeros((supervoxels, 3)), "edges": np.zeros((0, 2)), "edge_contacts": np.zeros(0),
        "pfh": np.zeros((supervoxels, 125))})
    io.write_projections(tmp_path / f"{scene_id}.projections.h5", {k: np.arange(supervoxels) for k in ("point", "frame", "u", "v", "depth")})
    io.write_json(tmp_path / f"{scene_id}.weak.json", {"kind": "clicks", "tags": [0], "points": [0], "labels": [0]})
    return [str(tmp_path / f"{scene_id}{suffix}") for suffix in (".h5", ".geometry.h5", ".projections.h5", ".weak.json")]


SETTINGS = '{"method": "needs_probe", "voxel_size": 0.1, "channels": [4, 4], "blocks": 1, "epochs": 2, "batch_size": 1, "lr": 0.1, "weight_decay": 0, "seed": 0, "device": "cpu"}'
CLASSES = '["a", "b", "c"]'


def test_a_methods_declared_needs_reach_its_training_and_pseudo_label_jobs(tmp_path):
    SEEN.clear()
    a, b = scene_files(tmp_path, "a", 2), scene_files(tmp_path, "b", 3)
    io.write_labels(tmp_path / "prev.zarr/a", np.eye(3, dtype=np.float32)[[2, 2, 2, 1, 1, 1]])
    io.write_labels(tmp_path / "prev.zarr/b", np.zeros((6, 3), np.float32))
    model = str(tmp_path / "model.pt")
    learner = ["--settings", SETTINGS, "--classes", CLASSES]
    # round 1: no previous labels
    assert main(["stage1-train", *learner, "--scenes", a[0], b[0], "--weak", a[3], b[3], "--geometry", a[1], b[1],
                 "--projections", a[2], b[2], "--out", model]) == 0
    assert SEEN["train"] == [("a", True, 2, 2, None), ("b", True, 3, 3, None)]
    # a later round: the previous round's labels, per scene
    SEEN.clear()
    assert main(["stage1-train", *learner, "--scenes", a[0], b[0], "--weak", a[3], b[3], "--geometry", a[1], b[1],
                 "--projections", a[2], b[2], "--previous", str(tmp_path / "prev.zarr/a"), str(tmp_path / "prev.zarr/b"),
                 "--out", model]) == 0
    assert SEEN["train"] == [("a", True, 2, 2, [2, 2, 2, 1, 1, 1]), ("b", True, 3, 3, [-1] * 6)]
    out = tmp_path / "pseudo.zarr/b"
    assert main(["stage1-pseudo", *learner, "--model", model, "--scene", b[0], "--weak", b[3], "--geometry", b[1],
                 "--projections", b[2], "--out", str(out)]) == 0
    assert SEEN["pseudo"] == ("b", True, 3, 4)  # the extra state (4 steps: 2 epochs x 2 scenes) came with the model
    labels = io.read_labels(out)
    assert (labels.label == 1).all() and labels.features["probe"].tolist() == [[0], [1], [2]]


def test_a_warm_started_round_continues_the_previous_rounds_networks_and_state(tmp_path):
    a = scene_files(tmp_path, "a", 2)
    learner = ["--settings", SETTINGS, "--classes", CLASSES]
    job = ["--scenes", a[0], "--weak", a[3], "--geometry", a[1], "--projections", a[2]]
    first, warm, cold = (str(tmp_path / f"{name}.pt") for name in ("first", "warm", "cold"))
    assert main(["stage1-train", *learner, *job, "--out", first]) == 0
    assert main(["stage1-train", *learner, *job, "--init", first, "--out", warm]) == 0
    assert main(["stage1-train", *learner, *job, "--out", cold]) == 0
    weights = {name: torch.load(path, weights_only=True) for name, path in (("first", first), ("warm", warm), ("cold", cold))}
    # the method's state went on counting from the first round's 2 steps; a cold round starts at 0
    assert [int(weights[n]["extra"]["steps"]) for n in ("first", "warm", "cold")] == [2, 4, 2]
    # and so did the weights: a cold round repeats the first, a warm one ends elsewhere
    assert torch.equal(weights["cold"]["model"]["weight"], weights["first"]["model"]["weight"])
    assert not torch.equal(weights["warm"]["model"]["weight"], weights["first"]["model"]["weight"])


def test_a_round_whose_networks_differ_from_the_previous_rounds_cannot_start_from_them(tmp_path, capsys):
    a = scene_files(tmp_path, "a", 2)
    job = ["--classes", CLASSES, "--scenes", a[0], "--weak", a[3], "--geometry", a[1], "--projections", a[2]]
    first, second = str(tmp_path / "first.pt"), tmp_path / "second.pt"
    assert main(["stage1-train", "--settings", SETTINGS, *job, "--out", first]) == 0
    wider = SETTINGS.replace('"blocks": 1', '"blocks": 1, "width": 2')
    assert main(["stage1-train", "--settings", wider, *job, "--init", first, "--out", str(second)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"weakseg stage1-train: error: {first}: this round cannot start from it: its networks differ from this "
        "round's (a setting that shapes them changed between rounds)")
    assert not second.exists()


def test_a_job_missing_a_declared_need_says_which(tmp_path, capsys):
    a = scene_files(tmp_path, "a", 2)
    assert main(["stage1-train", "--settings", SETTINGS, "--classes", CLASSES, "--scenes", a[0], "--weak", a[3],
                 "--geometry", a[1], "--out", str(tmp_path / "model.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "weakseg stage1-train: error: --projections: method 'needs_probe' needs the projections of each of the 1 scene(s); 0 given"
    assert not (tmp_path / "model.pt").exists()


@pytest.fixture(autouse=True, scope="module")
def forget_the_probe():
    yield
    METHODS._items.pop("needs_probe", None)
    METHODS._declared.pop("needs_probe", None)
