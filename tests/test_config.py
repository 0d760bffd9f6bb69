"""Checks a config must pass before anything runs: what the schema cannot see."""

from pathlib import Path

import pytest
import yaml

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


# --------------------------------------------------------------------------- declared options and needs
CLICKS = {"method": "otoc", "voxel_size": 0.1, "channels": [8, 16], "blocks": 1, "epochs": 1, "batch_size": 1, "lr": 0.01,
          "weight_decay": 0.0}


@pytest.mark.parametrize("experiment, problem", [
    ({"stage1": {**CLICKS, "epochz": 3}}, "experiments.m.stage1: unknown option 'epochz' for method 'otoc' (it takes: batch_size,"),
    ({"stage1": {**CLICKS, "attention_channels": 8}}, "unknown option 'attention_channels' for method 'otoc'"),
    ({"stage1": {**CLICKS, "temperature": 0}}, "experiments.m.stage1.temperature: 0 is less than or equal to the minimum of 0"),
    ({"stage1": CLICKS, "refiners": [{"name": "graph_propagation", "alpah": 0.9}]},
     "experiments.m.refiners[0]: unknown option 'alpah' for refiner 'graph_propagation' (it takes: alpha, color_sigma,"),
    ({"stage1": CLICKS, "refiners": [{"name": "tag_filter", "drop": 0.2}]}, "unknown option 'drop' for refiner 'tag_filter' (it takes: no options)"),
    ({"stage1": CLICKS, "refiners": [{"name": "energy_propagation", "kernels": ["colour"]}]},
     "experiments.m.refiners[0].kernels: 'colour' is not one of"),
    ({"stage1": CLICKS, "rounds": [{}, {"epochz": 2}]}, "experiments.m.rounds[1]: unknown option 'epochz' for method 'otoc'"),
    ({"stage1": CLICKS, "rounds": [{}, {"method": "sparse_points"}]}, "experiments.m.rounds[1]: every round trains the experiment's method"),
    ({"stage1": {**CLICKS, "method": "densify", "losses": ["cam", "match", "us", "cam"]}, "supervision": "scene_tags"},
     "experiments.m.stage1.losses: ['cam', 'match', 'us', 'cam'] has non-unique elements"),
    ({"stage1": {**CLICKS, "method": "densify", "pseudo_from": "primitive"}, "supervision": "scene_tags"},
     "experiments.m.stage1.pseudo_from: 'primitive' is not one of ['classifier', 'primitives']"),
    ({"stage1": {**CLICKS, "method": "dsp", "phases": ["csfr", "isfrr"]}, "supervision": {"kind": "point_fraction", "fraction": 0.01}},
     "experiments.m.stage1.phases: 'isfrr' is not one of ['csfr', 'isfr', 'csfr+isfr']"),
    ({"stage1": {**CLICKS, "method": "dsp"}, "supervision": "scene_tags"}, "method 'dsp' cannot learn from 'scene_tags' (it accepts clicks, point_fraction)"),
    ({"stage1": {**CLICKS, "method": "mprm", "prior_drop_rate": 1.5}, "supervision": "scene_tags"},
     "experiments.m.stage1.prior_drop_rate: 1.5 is greater than the maximum of 1"),
    ({"stage1": {**CLICKS, "elastic": [[0.2]]}}, "experiments.m.stage1.elastic: [0.2] is too short"),
    ({"stage1": {**CLICKS, "method": "mprm", "warm_start": True}, "supervision": "scene_tags"},
     "experiment 'm': warm_start continues the previous round's networks, and method 'mprm' runs one round"),
    ({"stage1": {**CLICKS, "method": "mprm"}, "supervision": "scene_tags", "stage2": False},
     "method 'mprm' cannot segment a scene on its own, so its final model is stage two (stage2: false is not possible)"),
])
def test_a_misspelt_or_foreign_option_is_refused_at_parse_time_naming_it(experiment, problem):
    with pytest.raises(WeaksegError) as err:
        check(config(m={"supervision": "clicks", **experiment}), scenes())
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_rounds_repeat_stage_one_or_override_it_round_by_round():
    from weakseg.config import rounds

    assert rounds({"stage1": CLICKS}) == [CLICKS]
    assert rounds({"stage1": CLICKS, "rounds": 3}) == [CLICKS] * 3
    assert rounds({"stage1": CLICKS, "rounds": [{}, {"epochs": 5}]}) == [CLICKS, {**CLICKS, "epochs": 5}]


def test_every_declared_need_is_one_a_job_can_be_given():
    """What a method or refiner declares it needs reaches its jobs: the DAG has a rule input for
    it and the step a command-line option (or, for `frames` and `features`, another path)."""
    from weakseg.cli import build_parser
    from weakseg.methods import METHODS
    from weakseg.refine import REFINERS
    from weakseg.registry import Registry

    steps = {a.dest: a for a in build_parser()._subparsers._group_actions}
    options = {name: {o for action in p._actions for o in action.option_strings} for name, p in steps["step"].choices.items()}
    for name in METHODS.names():
        for need in set(METHODS.metadata(name)["needs"]) - {"frames"}:  # frames: the scene file itself
            assert f"--{need}" in options["stage1-train"] and f"--{need}" in options["stage1-pseudo"], (name, need)
    for name in REFINERS.names():
        for need in set(REFINERS.metadata(name)["needs"]) - {"features"}:  # features: in the label group
            assert f"--{need}" in options["refine"], (name, need)
    with pytest.raises(ValueError, match="needs \\['normals'\\]"):
        Registry("thing", known_needs=("geometry",)).declare("x", "nowhere", needs=("normals",))


def test_every_refiners_declared_options_are_its_keyword_arguments():
    import inspect

    from weakseg.refine import REFINERS

    for name in REFINERS.names():
        params = inspect.signature(REFINERS.get(name).__init__).parameters
        assert set(REFINERS.metadata(name)["options"]) == set(params) - {"self"}, name


# --------------------------------------------------------------------------- the shipped configs
REPO = Path(__file__).resolve().parents[1]
SHIPPED = [["config.yaml"], ["config.yaml", "configs/otoc.yaml"], ["config.yaml", "configs/densify.yaml"],
           ["config.yaml", "configs/wsegpc.yaml"], ["config.yaml", "configs/dsp.yaml"], ["config.yaml", "configs/dsp.yaml", "configs/seed1.yaml"],
           ["config.yaml", "configs/dsp.yaml", "configs/seed2.yaml"], ["config.yaml", "configs/otoc.yaml", "configs/seed1.yaml"],
           ["config.yaml", "configs/benchmark.yaml"], ["config.yaml", "configs/more_scenes.yaml"],
           ["config.yaml", "configs/more_scenes.yaml", "configs/more_scenes_seed1.yaml"],
           ["config.yaml", "configs/more_scenes.yaml", "configs/more_scenes_64.yaml"],
           ["config.yaml", "configs/otoc_regions.yaml"],
           ["configs/scannet_pointcept.yaml"],
           ["configs/scannet_rooms.yaml"], ["configs/scannet_rooms.yaml", "configs/scannet_rooms_points.yaml"],
           ["configs/scannet_rooms.yaml", "configs/scannet_rooms_tags_clicks.yaml"],
           ["configs/scannet_rooms.yaml", "configs/scannet_rooms_wide.yaml"],
           ["configs/scannet_rooms.yaml", "configs/scannet_rooms_vertical.yaml"]]


@pytest.mark.parametrize("files", SHIPPED, ids=lambda files: "+".join(Path(f).stem for f in files))
def test_every_shipped_config_passes_the_parse_time_check(files, monkeypatch):
    """What `snakemake --configfile <files>` checks before anything runs, on the real data where
    the config reads it (skipped where ../shared/data is absent)."""
    from snakemake.utils import update_config

    from weakseg.config import validate
    from weakseg.datasets import DATASETS

    merged = {}
    for f in files:
        update_config(merged, yaml.safe_load((REPO / f).read_text()))
    monkeypatch.chdir(REPO)  # dataset roots are relative to the run directory
    root = merged["dataset"].get("root")
    if root is not None and not Path(root).exists():
        pytest.skip(f"{root} is not on this machine")
    validate(merged, REPO / "workflow/schemas/config.schema.yaml")
    source = DATASETS.get(merged["dataset"]["type"])(merged["dataset"])
    assert sorted(check(merged, source.scenes())) == ["train", "val"]  # both splits are scored


def test_stage_two_takes_soft_targets_and_a_misspelling_inside_a_choice_is_named():
    from weakseg.config import validate

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = REPO / "workflow/schemas/config.schema.yaml"
    validate(base | {"stage2": base["stage2"] | {"soft_targets": True}}, schema)
    validate(base | {"experiments": base["experiments"] | {"x": {"supervision": "clicks", "stage1": CLICKS, "refiners": [],
                                                                "stage2": {"soft_targets": True}}}}, schema)
    for value, problem in [({"stage2": {"soft_target": True}}, "experiments.x.stage2: Unevaluated properties are not allowed ('soft_target' was unexpected)"),
                           ({"stage2": {"epochs": "x"}}, "experiments.x.stage2.epochs: 'x' is not of type 'integer'"),
                           ({"supervision": "clickz"}, "experiments.x.supervision: 'clickz' is not one of ['scene_tags',")]:
        # each inside a oneOf (`false` or a mapping; a name or a mapping): named as meant
        with pytest.raises(WeaksegError) as err:
            validate(base | {"experiments": {"x": {"supervision": "clicks", "stage1": CLICKS, "refiners": [], **value}}}, schema)
        assert problem in str(err.value)


def test_every_network_takes_input_normals_and_a_value_it_does_not_know_is_named():
    from weakseg.config import validate

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = REPO / "workflow/schemas/config.schema.yaml"
    for method, supervision in [("otoc", "clicks"), ("dsp", "clicks"), ("sparse_points", "clicks"),
                                ("mprm", "scene_tags"), ("densify", "scene_tags"), ("wsegpc", "scene_tags")]:
        experiment = {"supervision": supervision, "stage1": {**CLICKS, "method": method, "input_normals": "vertical"},
                      "refiners": [], "stage2": {"input_normals": "none"}}
        merged = base | {"stage2": base["stage2"] | {"input_normals": "vertical"}, "experiments": {"x": experiment}}
        validate(merged, schema)
        check(merged, scenes())
    from weakseg.voxel import INPUT_NORMALS

    training = yaml.safe_load(schema.read_text())["$defs"]["training"]["properties"]
    assert training["input_normals"]["enum"] == list(INPUT_NORMALS)  # the schema refuses what the code does not know
    with pytest.raises(WeaksegError) as err:
        validate(base | {"stage2": base["stage2"] | {"input_normals": "unsigned"}}, schema)
    assert "stage2.input_normals: 'unsigned' is not one of ['signed', 'vertical', 'none']" in str(err.value)


def test_a_rounds_overrides_are_checked_as_stage_one_keys_are():
    from weakseg.config import validate

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = REPO / "workflow/schemas/config.schema.yaml"
    experiment = {"supervision": "clicks", "stage1": CLICKS, "refiners": []}
    validate(base | {"experiments": {"x": {**experiment, "rounds": [{}, {"warm_start": True, "epochs": 5}]}}}, schema)
    for rounds, problem in [([{}, {"warm_start": "yes"}], "experiments.x.rounds.1.warm_start: 'yes' is not of type 'boolean'"),
                            ([{}, {"epochs": 0}], "experiments.x.rounds.1.epochs: 0 is less than the minimum of 1"),
                            ({"warm_start": True}, "experiments.x.rounds: ")]:
        with pytest.raises(WeaksegError) as err:
            validate(base | {"experiments": {"x": {**experiment, "rounds": rounds}}}, schema)
        assert problem in str(err.value)


def test_every_file_in_configs_is_checked_above():
    assert {f for files in SHIPPED for f in files} >= {f"configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")}


def test_the_benchmark_runs_every_method_on_every_label_kind_it_accepts():
    from snakemake.utils import update_config

    from weakseg import option_schemas
    from weakseg.registry import read_declarations

    shipped = [d for path in sorted((REPO / "src/weakseg/methods").glob("*.py"))
               for d in read_declarations(path, vars(option_schemas))]  # not the tests' own methods
    merged = {}
    for f in ("config.yaml", "configs/benchmark.yaml"):
        update_config(merged, yaml.safe_load((REPO / f).read_text()))
    runs = set()
    for exp in merged["experiments"].values():
        if exp.get("enabled", True) and "stage1" in exp:
            kind = exp["supervision"] if isinstance(exp["supervision"], str) else exp["supervision"]["kind"]
            runs.add((exp["stage1"]["method"], kind))
    assert len(shipped) >= 6 and runs == {(d["name"], kind) for d in shipped for kind in d["accepts"]}


# --------------------------------------------------------------------------- export scenes
def test_export_takes_the_scenes_named_or_the_first_two_validation_scenes():
    from weakseg.config import export_scenes

    listing = {s: {"split": "val" if "val" in s else "train", "labelled": True}
               for s in ("t_0", "t_1", "t_2", "val_2", "val_0", "val_1")}
    assert export_scenes({}, listing) == ["val_0", "val_1"]
    assert export_scenes({"export": {}}, listing) == ["val_0", "val_1"]
    assert export_scenes({"export": {"scenes": ["t_2", "val_1"]}}, listing) == ["t_2", "val_1"]
    assert export_scenes({"export": {"scenes": []}}, listing) == []
    # a dataset without a validation split: its first training scenes
    assert export_scenes({}, {s: info for s, info in listing.items() if s.startswith("t_")}) == ["t_0", "t_1"]


def test_an_export_scene_not_in_the_dataset_is_refused_naming_it():
    from weakseg.config import export_scenes

    listing = {"a": {"split": "train", "labelled": True}, "v": {"split": "val", "labelled": True}}
    with pytest.raises(WeaksegError) as err:
        export_scenes({"export": {"scenes": ["v", "scene0000_00"]}}, listing)
    assert str(err.value) == "config.yaml: export.scenes: 'scene0000_00' is not a scene of the dataset (it has 2, e.g. v, a)"


def test_a_component_is_declared_by_its_module_without_importing_it(tmp_path):
    from weakseg import option_schemas
    from weakseg.registry import Registry

    (tmp_path / "heavy.py").write_text("import no_such_package_here\n"
                                      "DECLARATIONS = [dict(name='heavy', options={'drop': SHARE}, needs=('geometry',))]\n")
    (tmp_path / "stray.py").write_text("LIMIT = 3\nDECLARATIONS = [dict(name='stray', options={'n': {'maximum': LIMIT}})]\n")
    (tmp_path / "_private.py").write_text("DECLARATIONS = [dict(name='private')]\n")
    registry = Registry("thing", known_needs=("geometry",))
    with pytest.raises(ValueError, match="stray.py: DECLARATIONS may use literals and weakseg.option_schemas only"):
        registry.discover("pkg", tmp_path, vars(option_schemas))
    (tmp_path / "stray.py").unlink()
    registry.discover("pkg", tmp_path, vars(option_schemas))  # its import would fail: it is not imported
    assert registry.names() == ["heavy"] and registry.metadata("heavy")["options"] == {"drop": option_schemas.SHARE}
