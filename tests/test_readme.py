"""The README's worked example of adding a method runs as written."""

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from weakseg import option_schemas
from weakseg.config import check
from weakseg.methods import METHODS
from weakseg.train import fit
from weakseg.weak import simulate
from test_config import config, scenes
from test_mprm import tiny_room

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def my_points(tmp_path):
    """The README's module and catalogue line, loaded as weakseg.methods.my_points."""
    (module_code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "my_points.py").write_text(module_code)
    METHODS.discover("weakseg.methods", folder, vars(option_schemas))  # as the package does with its own folder
    module = types.ModuleType("weakseg.methods.my_points")
    module.__package__ = "weakseg.methods"
    sys.modules[module.__name__] = module
    exec(compile(module_code, "README.md", "exec"), module.__dict__)
    yield METHODS.get("my_points")
    del sys.modules[module.__name__]
    METHODS._items.pop("my_points")
    METHODS._declared.pop("my_points")


def test_the_readme_method_is_checked_by_the_config_and_trains(my_points, rng, tmp_path):
    stage1 = {"method": "my_points", "voxel_size": 0.1, "channels": [16, 32], "blocks": 1, "epochs": 6,
              "batch_size": 2, "lr": 0.01, "weight_decay": 0.0}
    check(config(m={"supervision": {"kind": "point_fraction", "points": 20}, "stage1": stage1, "stage2": False}), scenes())
    with pytest.raises(Exception, match="unknown option 'class_balanse' for method 'my_points'"):
        check(config(m={"supervision": {"kind": "point_fraction", "points": 20}, "stage1": {**stage1, "class_balanse": 0.5}}), scenes())
    with pytest.raises(Exception, match="cannot learn from 'clicks'"):
        check(config(m={"supervision": "clicks", "stage1": stage1}), scenes())
    torch.manual_seed(0)
    method = my_points(20, stage1, "cpu")
    rooms = [tiny_room(rng, objs, f"r{i}") for i, objs in enumerate([[3], [3, 4]])]
    weak = [simulate(r, "point_fraction", points=20) for r in rooms]
    history = fit(method, [method.example(r, w) for r, w in zip(rooms, weak)], dict(stage1, seed=0), tmp_path / "ckpt.pt")
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]  # it learns
    prob = method.pseudo_labels(rooms[0], weak[0])
    assert prob.shape == (rooms[0].num_points, 20) and np.allclose(prob.sum(1), 1, atol=1e-4)
