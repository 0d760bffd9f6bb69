"""The one trainer: a run killed after any epoch resumes to the same weights, bit for bit."""

import numpy as np
import pytest
import torch

from weakseg.segmentation import Segmenter
from weakseg.train import fit
from conftest import box_surface, make_scene

PARAMS = dict(voxel_size=0.1, channels=[8, 16], blocks=1)
SETTINGS = dict(epochs=3, batch_size=2, lr=0.01, weight_decay=0.0, seed=3)


def scenes(rng):
    out = []
    for i in range(3):
        a, na = box_surface([0, 0, 0], [1, 1, 1], 0.08, rng)
        b, nb = box_surface([1.5 + 0.1 * i, 0, 0], [2.5, 1, 0.6], 0.08, rng)
        label = np.repeat([4, 6], [len(a), len(b)])
        out.append(make_scene(np.concatenate([a, b]), label, normal=np.concatenate([na, nb]), scene_id=f"s{i}"))
    return out


class Killed(Exception):
    pass


class DiesInEpoch:
    """Wraps a learner and raises on the first step of epoch `epoch` (0-based), like a SIGKILL."""

    def __init__(self, learner, epoch, steps_per_epoch):
        self.learner, self.model, self.die_at, self.calls = learner, learner.model, epoch * steps_per_epoch, 0

    def loss(self, batch, rng):
        if self.calls == self.die_at:
            raise Killed
        self.calls += 1
        return self.learner.loss(batch, rng)

    def __getattr__(self, name):  # the learner's hooks and state
        return getattr(self.learner, name)


def trained(rng_seed, tmp_path, kill_epoch=None):
    rng = np.random.default_rng(rng_seed)
    data = scenes(rng)
    torch.manual_seed(0)
    seg = Segmenter(20, PARAMS, "cpu")
    examples = [seg.example(s, s.label) for s in data]
    ckpt = tmp_path / "model.ckpt"
    if kill_epoch is not None:
        with pytest.raises(Killed):
            fit(DiesInEpoch(seg, kill_epoch, 2), examples, SETTINGS, ckpt)
        torch.manual_seed(1)  # the restarted job starts from other random weights
        seg = Segmenter(20, PARAMS, "cpu")
    fit(seg, examples, SETTINGS, ckpt)
    return seg.model.state_dict()


@pytest.mark.parametrize("kill_epoch", [1, 2])
def test_resumed_training_equals_uninterrupted_training(tmp_path, kill_epoch):
    straight = trained(0, tmp_path / "a")
    resumed = trained(0, tmp_path / "b", kill_epoch)
    for name, value in straight.items():
        assert torch.equal(value, resumed[name]), name


def test_checkpoint_from_other_settings_is_not_resumed(tmp_path):
    rng = np.random.default_rng(0)
    data = scenes(rng)
    seg = Segmenter(20, PARAMS, "cpu")
    examples = [seg.example(s, s.label) for s in data]
    fit(seg, examples, {**SETTINGS, "epochs": 1}, tmp_path / "model.ckpt")
    history = fit(seg, examples, {**SETTINGS, "lr": 0.02}, tmp_path / "model.ckpt")
    assert [h["epoch"] for h in history] == [1, 2, 3]  # started over


def test_training_reduces_the_loss(tmp_path):
    rng = np.random.default_rng(0)
    seg = Segmenter(20, PARAMS, "cpu")
    examples = [seg.example(s, s.label) for s in scenes(rng)]
    history = fit(seg, examples, {**SETTINGS, "epochs": 30}, tmp_path / "model.ckpt")
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_networks_use_native_convolution_on_cpu_and_spconvs_default_on_cuda(device):
    # Built without moving to the device, so this runs without a GPU: what is checked is the
    # algorithm each sparse convolution was given.
    import spconv.pytorch as spconv
    from spconv.core import ConvAlgo
    from spconv.pytorch.conv import SparseConvolution

    from weakseg.methods.mprm import MPRMNet
    from weakseg.models.sparse import SparseUNet

    want = ConvAlgo.Native if device == "cpu" else spconv.SubMConv3d(1, 1, 3).algo
    for model in (SparseUNet(9, 20, (8, 16), 1, device), MPRMNet(9, 20, (8, 16), 1, 4, device)):
        algos = {m.algo for m in model.modules() if isinstance(m, SparseConvolution)}
        assert algos == {want}


def test_device_auto_picks_cuda_when_there_is_one(monkeypatch):
    from weakseg.cli import _setup_torch

    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep this process's threads
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _setup_torch(1, {"device": "auto"}) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _setup_torch(1, {"device": "auto"}) == "cpu"
    assert _setup_torch(1, {"device": "cuda:1"}) == "cuda:1"


class Counting:
    """A learner with every hook and some extra state: a step counter the loss depends on."""

    def __init__(self, seg):
        self.seg, self.model, self.calls, self.steps = seg, seg.model, [], torch.zeros(())

    def batches(self, examples, batch_size, rng):
        return [[e] for e in examples[:2]]  # the method chooses: the first two scenes, one a step

    def before_epoch(self, epoch, examples, rng):
        self.calls.append(("before", epoch))

    def loss(self, batch, rng):
        return self.seg.loss(batch, rng) * (1 + 0.01 * self.steps)

    def after_step(self, epoch, step):
        self.steps += 1
        self.calls.append(("step", epoch, step))

    def after_epoch(self, epoch, history):
        self.calls.append(("after", epoch, len(history)))

    def extra_state(self):
        return {"steps": self.steps.clone()}

    def load_extra_state(self, state):
        self.steps = state["steps"].clone()


def test_hooks_run_in_order_and_a_methods_batches_are_its_own(tmp_path):
    seg = Segmenter(20, PARAMS, "cpu")
    learner = Counting(seg)
    data = scenes(np.random.default_rng(0))[:2]
    fit(learner, [seg.example(s, s.label) for s in data], {**SETTINGS, "epochs": 2, "batch_size": 1}, tmp_path / "m.ckpt")
    assert learner.calls == [("before", 0), ("step", 0, 0), ("step", 0, 1), ("after", 0, 1),
                             ("before", 1), ("step", 1, 0), ("step", 1, 1), ("after", 1, 2)]
    saved = torch.load(tmp_path / "m.ckpt", weights_only=True)
    assert saved["extra"]["steps"] == 4  # the method's state is in the checkpoint


def test_batches_that_do_not_fit_the_schedule_are_refused(tmp_path):
    seg = Segmenter(20, PARAMS, "cpu")
    data = scenes(np.random.default_rng(0))  # 3 scenes, batch 1: the schedule has 3 steps an epoch
    with pytest.raises(ValueError, match="2 batches in epoch 1, the schedule has 3"):
        fit(Counting(seg), [seg.example(s, s.label) for s in data], {**SETTINGS, "batch_size": 1}, tmp_path / "m.ckpt")


def test_a_methods_extra_state_resumes_with_its_weights(tmp_path):
    def run(path, kill_epoch=None):
        torch.manual_seed(0)
        data = scenes(np.random.default_rng(0))[:2]
        learner = Counting(Segmenter(20, PARAMS, "cpu"))
        examples = [learner.seg.example(s, s.label) for s in data]
        settings = {**SETTINGS, "batch_size": 1}
        if kill_epoch is not None:
            with pytest.raises(Killed):
                fit(DiesInEpoch(learner, kill_epoch, 2), examples, settings, path)
            torch.manual_seed(1)
            learner = Counting(Segmenter(20, PARAMS, "cpu"))  # a new job: the counter starts at 0 again
        fit(learner, examples, settings, path)
        return learner

    straight, resumed = run(tmp_path / "a.ckpt"), run(tmp_path / "b.ckpt", kill_epoch=2)
    assert resumed.steps == straight.steps == 6
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_stage_two_learns_the_pseudo_labels_probabilities_only_when_told(tmp_path, rng, one_thread):
    """`soft_targets`: one-hot probabilities train the same network as their labels; uncertain
    ones (the same most likely class) another. Without it, only the most likely class counts."""
    import json

    from conftest import make_scene
    from weakseg.cli import main
    from weakseg.io import write_labels, write_scene

    coord = rng.uniform(0, 2, (600, 3))
    label = (coord[:, 0] > 1).astype(int)
    write_scene(tmp_path / "s0.h5", make_scene(coord, label))
    sure = np.eye(4, dtype=np.float32)[label]
    unsure = np.where(sure > 0, 0.55, 0.15).astype(np.float32)
    write_labels(tmp_path / "sure.zarr/s0", sure)
    write_labels(tmp_path / "unsure.zarr/s0", unsure)
    settings = {"voxel_size": 0.2, "channels": [8, 16], "blocks": 1, "epochs": 2, "batch_size": 1, "lr": 0.01,
                "weight_decay": 0.0, "seed": 0, "device": "cpu"}

    def weights(labels, soft):
        out = tmp_path / f"{labels}_{soft}.pt"
        assert main(["stage2-train", "--settings", json.dumps(settings | {"soft_targets": soft}), "--threads", "1",
                     "--classes", json.dumps(["a", "b", "c", "d"]), "--scenes", str(tmp_path / "s0.h5"),
                     "--labels", str(tmp_path / f"{labels}.zarr/s0"), "--out", str(out)]) == 0
        return torch.load(out, weights_only=True)["model"]

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    hard = weights("sure", False)
    assert same(hard, weights("unsure", False)) and same(hard, weights("sure", True))
    assert not same(hard, weights("unsure", True))


def test_the_networks_train_and_predict_on_the_normals_their_settings_give_them(tmp_path, rng, one_thread):
    """`input_normals` reaches stage two's training and prediction: with `vertical` or `none` a
    scene and the same scene with every normal flipped train the same network and get the same
    prediction; with the normals as read (`signed`, the default) they do not."""
    import json

    from conftest import make_scene
    from weakseg.cli import main
    from weakseg.io import read_labels, write_scene

    coord = rng.uniform(0, 2, (600, 3))
    label = (coord[:, 0] > 1).astype(int)
    normal = rng.normal(size=(600, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    write_scene(tmp_path / "up.h5", make_scene(coord, label, normal=normal))
    write_scene(tmp_path / "flipped.h5", make_scene(coord, label, normal=-normal))
    settings = {"voxel_size": 0.2, "channels": [8, 16], "blocks": 1, "epochs": 2, "batch_size": 1, "lr": 0.01,
                "weight_decay": 0.0, "seed": 0, "device": "cpu"}
    classes = json.dumps(["a", "b"])

    def run(scene, mode):
        given = settings if mode is None else settings | {"input_normals": mode}
        model, store = tmp_path / f"{scene}_{mode}.pt", tmp_path / f"{scene}_{mode}.zarr"
        assert main(["stage2-train", "--settings", json.dumps(given), "--threads", "1", "--classes", classes,
                     "--scenes", str(tmp_path / f"{scene}.h5"), "--out", str(model)]) == 0
        assert main(["predict", "--settings", json.dumps(given), "--threads", "1", "--classes", classes,
                     "--model", str(model), "--scenes", str(tmp_path / f"{scene}.h5"), "--out", str(store)]) == 0
        return torch.load(model, weights_only=True)["model"], read_labels(store / "s0").prob

    def same(a, b):
        return all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and np.array_equal(a[1], b[1])

    for mode in ("vertical", "none"):
        assert same(run("up", mode), run("flipped", mode)), mode
    assert not same(run("up", None), run("flipped", None))
    assert same(run("up", None), run("up", "signed"))
