"""Checks a config must pass before anything runs: what the schema cannot see."""

import pytest

from weakseg.config import check, supervision
from weakseg.errors import WeaksegError

STAGE1 = {"method": "mprm"}


def scenes(labelled=True, val=True):
    out = {"a": {"split": "train", "labelled": labelled}, "b": {"split": "train", "labelled": labelled}}
    if val:
        out["c"] = {"split": "val", "labelled": True}
    return out


def config(**experiments):
    return {"experiments": experiments}


def test_supervision_is_a_kind_or_a_kind_with_options():
    assert supervision({"supervision": "clicks"}) == {"kind": "clicks"}
    assert supervision({"supervision": {"kind": "subcloud_tags", "radius": 1.5}}) == {"kind": "subcloud_tags", "radius": 1.5}


def test_a_labelled_dataset_is_scored_on_both_splits():
    cfg = config(m={"supervision": "scene_tags", "stage1": STAGE1}, full={"supervision": "full"})
    assert check(cfg, scenes()) == ["train", "val"]


def test_without_ground_truth_only_the_users_tags_can_supervise_and_nothing_is_scored():
    cfg = config(m={"supervision": "scene_tags", "stage1": STAGE1})
    assert check(cfg, scenes(labelled=False, val=False), user_tags={"a": [0], "b": [1]}) == []


@pytest.mark.parametrize("experiments, user_tags, problem", [
    ({"m": {"supervision": "clicks", "stage1": STAGE1}}, None, "method 'mprm' cannot learn from 'clicks' (it accepts scene_tags, subcloud_tags)"),
    ({"m": {"supervision": "scene_tags", "stage1": {"method": "pointnet"}}}, None, "unknown stage-one method 'pointnet'"),
    ({"full": {"supervision": "full"}}, {"a": [0], "b": [0]}, "full supervision needs ground truth"),
    ({"m": {"supervision": "subcloud_tags", "stage1": STAGE1}}, {"a": [0], "b": [0]}, "'subcloud_tags' is simulated from ground truth"),
    ({"m": {"supervision": "scene_tags", "stage1": STAGE1}}, {"a": [0]}, "scene 'b' has neither ground truth nor tags"),
    ({"m": {"supervision": "scene_tags", "stage1": STAGE1, "enabled": False}}, None, "every experiment is disabled"),
    ({"m": {"supervision": "scene_tags", "stage1": STAGE1, "refiners": [{"name": "crf"}]}}, None, "unknown refiner 'crf'; known: confidence_filter"),
])
def test_configs_that_cannot_run_are_refused_naming_the_experiment(experiments, user_tags, problem):
    with pytest.raises(WeaksegError) as err:
        check(config(**experiments), scenes(labelled=user_tags is None), user_tags)
    assert problem in str(err.value) and err.value.path == "config.yaml"
