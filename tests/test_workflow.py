"""The real DAG, end to end, on the tiny config: what users run, from another directory."""

import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from plyfile import PlyData

from conftest import job_environment, snakemake_command
from weakseg.classes import SCANNET20_COLORS
from weakseg.export import CORRECT_COLOR, WRONG_COLOR
from weakseg.io import read_labels, read_scene

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/configs/tiny.yaml"


def snakemake(workdir, *args, configs=(TINY,)):
    env = job_environment()
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
           "--configfile", str(REPO / "config.yaml"), *map(str, configs), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


def jobs_planned(result):
    """Rule name -> count from Snakemake's job table."""
    table = result.stdout.split("Job stats:")[-1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] not in ("total", "job")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "results/tiny"


@pytest.mark.slow
def test_dag_writes_every_stage_and_scores_it(run):
    scenes = sorted(p.stem for p in (run / "scenes").glob("*.h5"))
    assert scenes == ["synth_train_0000", "synth_train_0001", "synth_train_0002", "synth_train_0003", "synth_val_0000", "synth_val_0001"]
    train = [s for s in scenes if "train" in s]

    for scene_id in train:
        scene = read_scene(run / f"scenes/{scene_id}.h5")
        weak = json.loads((run / f"mprm/weak/{scene_id}.json").read_text())
        assert weak["kind"] == "scene_tags" and weak["tags"] == sorted(set(scene.label[scene.label >= 0].tolist()))
        clicks = json.loads((run / f"clicks/weak/{scene_id}.json").read_text())
        assert len(clicks["points"]) == len(np.unique(scene.instance))
        for r in (1, 2):  # every round keeps the clicked labels
            clicked = read_labels(run / f"clicks/stage1/round{r}/pseudo.zarr/{scene_id}")
            assert clicked.label[clicks["points"]].tolist() == clicks["labels"]
            assert set(clicked.features) == {"unet", "relation"}  # for the propagation refiner
            refined = read_labels(run / f"clicks/refined/round{r}/pseudo.zarr/{scene_id}")
            assert refined.label[clicks["points"]].tolist() == clicks["labels"]
        stage1 = read_labels(run / f"mprm/stage1/round1/pseudo.zarr/{scene_id}")
        refined = read_labels(run / f"mprm/refined/round1/pseudo.zarr/{scene_id}")
        assert stage1.prob.shape == (scene.num_points, 20)
        assert set(np.unique(stage1.label)) <= set(weak["tags"])  # only tagged classes
        assert stage1.attrs["method"] == "mprm" and len(stage1.attrs["class_names"]) == 20
        assert 0.7 < (refined.label >= 0).mean() < 0.9  # the confidence filter left 20 % unlabelled
        clicks_refined = read_labels(run / f"clicks/refined/round2/pseudo.zarr/{scene_id}")
        assert clicks_refined.attrs["method"] == "otoc+energy_propagation+confidence_selection"
    # geometry only where a method or refiner needs it (the training scenes of clicks, densify and
    # wsegpc), projections only where one needs them (wsegpc's)
    assert sorted(p.stem for p in (run / "pre/geometry").glob("*.h5")) == train
    assert sorted(p.stem for p in (run / "pre/projections").glob("*.h5")) == train
    for exp in ("mprm", "clicks", "fully_supervised"):
        for scene_id in scenes:
            pred = read_labels(run / f"{exp}/stage2/pred.zarr/{scene_id}")
            assert (pred.label >= 0).all() and pred.label.max() < 20

    m = {p.stem: json.loads(p.read_text()) for p in (run / "mprm/metrics").glob("*.json")}
    assert sorted(m) == ["refined_round1_train", "stage1_round1_train", "stage2_train", "stage2_val"]
    assert m["stage1_round1_train"]["coverage"] == 1.0 and m["refined_round1_train"]["coverage"] < 0.9
    assert m["stage1_round1_train"]["stage"] == "stage1" and m["stage1_round1_train"]["round"] == 1
    for result in m.values():
        conf = np.array(result["confusion"])
        assert conf.sum() == result["points"] and 0 <= result["miou"] <= 1
        assert result["annotation_seconds"] == 15.0

    summary = (run / "summary.md").read_text()
    for row in ("| mprm | scene_tags | mprm | 0.25 | stage1 | 1 | train |", "| mprm | scene_tags | mprm | 0.25 | stage2 |  | val |",
                "| clicks | clicks | otoc |", "| densify | scene_tags | densify |", "| stage1 | 2 | train |", "| refined | 2 | train |",
                "| fully_supervised | full |  | 22.30 | stage2 |  | val |"):
        assert row in summary
    clicks_rows = [line.split(",")[4:7] for line in (run / "summary.csv").read_text().splitlines() if line.startswith("clicks,")]
    # the self-training curve round by round, the last round's own network on val, stage two
    assert clicks_rows == [["stage1", "1", "train"], ["refined", "1", "train"], ["stage1", "2", "train"], ["refined", "2", "train"],
                           ["stage2", "", "train"], ["stage1", "2", "val"], ["stage2", "", "val"]]
    densify_rows = [line.split(",")[4:7] for line in (run / "summary.csv").read_text().splitlines() if line.startswith("densify,")]
    # bootstrapping is a second round; no stage two: its second network is scored on val
    assert densify_rows == [["stage1", "1", "train"], ["refined", "1", "train"], ["stage1", "2", "train"], ["refined", "2", "train"],
                            ["stage1", "2", "val"]]
    dsp_rows = [line.split(",")[4:7] for line in (run / "summary.csv").read_text().splitlines() if line.startswith("dsp,")]
    assert dsp_rows == [["stage1", "1", "train"], ["refined", "1", "train"], ["stage1", "1", "val"]]
    wsegpc_rows = [line.split(",")[4:7] for line in (run / "summary.csv").read_text().splitlines() if line.startswith("wsegpc,")]
    assert wsegpc_rows == [["stage1", "1", "train"], ["refined", "1", "train"], ["stage1", "1", "val"]]
    assert (run / "summary.csv").read_text().count("\n") == 25  # header + mprm 4 + clicks 7 + densify 5 + dsp 3 + wsegpc 3 + the bound 2
    for scene_id in train:  # DSP keeps the labelled points' classes
        given = json.loads((run / f"dsp/weak/{scene_id}.json").read_text())
        labels = read_labels(run / f"dsp/stage1/round1/pseudo.zarr/{scene_id}")
        assert labels.label[given["points"]].tolist() == given["labels"] and (labels.label >= 0).all()
    for scene_id in train:  # Densify's labels never leave the scene's tags
        tags = json.loads((run / f"densify/weak/{scene_id}.json").read_text())["tags"]
        for r in (1, 2):
            labels = read_labels(run / f"densify/stage1/round{r}/pseudo.zarr/{scene_id}")
            assert set(np.unique(labels.label[labels.label >= 0])) <= set(tags)
        wsegpc = read_labels(run / f"wsegpc/stage1/round1/pseudo.zarr/{scene_id}")  # and neither do WSegPC's
        assert set(np.unique(wsegpc.label)) <= set(json.loads((run / f"wsegpc/weak/{scene_id}.json").read_text())["tags"])


@pytest.mark.slow
def test_second_run_has_nothing_to_do(run):
    result = snakemake(run.parents[1], "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


EXPERIMENTS = ["clicks", "densify", "dsp", "fully_supervised", "mprm", "wsegpc"]


@pytest.mark.slow
def test_the_run_draws_the_plots_and_exports_the_first_two_validation_scenes(run):
    stems = ["miou_vs_cost", "per_class_iou", "rounds", *(f"confusion_{exp}" for exp in EXPERIMENTS)]
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    assert sorted(p.name for p in (run / "export").iterdir()) == sorted([*EXPERIMENTS, "legend.png"])
    # each experiment's labels of a validation scene: the last round's own network (methods that
    # predict), stage two's predictions (experiments that retrain); the error map of the last
    stages = {"clicks": ["stage1_round2", "stage2"], "densify": ["stage1_round2"], "dsp": ["stage1_round1"],
              "fully_supervised": ["stage2"], "mprm": ["stage2"], "wsegpc": ["stage1_round1"]}
    for exp in EXPERIMENTS:
        assert sorted(p.name for p in (run / f"export/{exp}").iterdir()) == ["synth_val_0000", "synth_val_0001"]
        for scene_id in ("synth_val_0000", "synth_val_0001"):
            files = sorted(p.stem for p in (run / f"export/{exp}/{scene_id}").glob("*.ply"))
            assert files == sorted(["input", "ground_truth", "error", *stages[exp]]), (exp, scene_id)
    scene = read_scene(run / "scenes/synth_val_0001.h5")
    for exp, final, store in (("clicks", "stage2", "clicks/stage2/pred.zarr"), ("densify", "stage1_round2", "densify/stage1/round2/pred.zarr")):
        pred = read_labels(run / store / "synth_val_0001").label
        vertex = PlyData.read(str(run / f"export/{exp}/synth_val_0001/error.ply"))["vertex"]
        colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1)
        assert len(colors) == scene.num_points
        right = (scene.label >= 0) & (pred == scene.label)
        assert (colors[right] == CORRECT_COLOR).all() and (colors[~right & (pred >= 0)] == WRONG_COLOR).all()
        vertex = PlyData.read(str(run / f"export/{exp}/synth_val_0001/{final}.ply"))["vertex"]
        colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1)
        np.testing.assert_array_equal(colors, np.array(SCANNET20_COLORS, np.uint8)[pred])


@pytest.mark.slow
def test_the_report_embeds_the_summary_every_plot_and_every_export_with_captions(run, tmp_path):
    # as users run it after the run: no --cores
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(run.parents[1]),
           "--configfile", str(REPO / "config.yaml"), str(TINY), "--report", str(tmp_path / "report.html")]
    t0 = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, env=job_environment(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - t0 < 60
    html = (tmp_path / "report.html").read_text()
    # Snakemake 9 embeds each result as a base64 data URI in a JSON object, `var results = {path: {...}}`
    start = re.search(r'<script id="results">\s*var results = ', html).end()
    results, _ = json.JSONDecoder().raw_decode(html, start)
    registered = [p for p in run.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"  # Snakemake's, in directory outputs
                  and (p.relative_to(run).parts[0] in ("plots", "export") or p.name in ("summary.md", "summary.csv"))]
    # the summary, 9 figures as PNG and SVG, the palette, the PLYs (clicks 5 a scene, the others 4)
    assert len(registered) == 2 + 2 * (3 + 6) + 1 + (5 + 4 + 4 + 4 + 4 + 4) * 2
    assert sorted(results) == sorted(str(p.relative_to(run.parents[1])) for p in registered)
    for path, entry in results.items():
        data = base64.b64decode(entry["data_uri"].split("base64,", 1)[1])
        assert data == (run.parents[1] / path).read_bytes(), path
        assert entry["caption"].strip(), path  # every result has its caption from workflow/report/
    export = results["results/tiny/export/clicks/synth_val_0000/error.ply"]
    assert export["labels"] == {"scene": "synth_val_0000", "points coloured by": "error"}
    assert "Experiment clicks, scene synth_val_0000" in export["caption"]
    categories = json.loads(re.search(r"var categories = (\{.*?\});", html).group(1))
    assert {"Summary", "Plots", "Exports"} <= set(categories)
    assert set(categories["Exports"]) == {"Palette", *EXPERIMENTS}


@pytest.mark.slow
def test_changing_a_refiner_reruns_only_refinement_and_what_follows(run, tmp_path):
    changed = yaml.safe_load(TINY.read_text())
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    changed["experiments"]["mprm"]["refiners"] = config["experiments"]["mprm"]["refiners"]
    changed["experiments"]["mprm"]["refiners"][-1]["drop"] = 0.3
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(changed))
    result = snakemake(run.parents[1], "-n", configs=(TINY, tmp_path / "changed.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    # and the plots, and the exports of mprm's validation scenes (stage two's predictions)
    assert jobs_planned(result) == {"refine": 4, "stage2_train": 1, "predict": 1, "evaluate": 3, "summary": 1, "plots": 1,
                                    "export": 2, "all": 1}


@pytest.mark.slow
def test_changing_a_geometry_setting_reruns_only_what_uses_geometry(run, tmp_path):
    (tmp_path / "changed.yaml").write_text("preprocess:\n  geometry:\n    seed_resolution: 0.4\n")
    result = snakemake(run.parents[1], "-n", configs=(TINY, tmp_path / "changed.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    # the clicks and densify experiments (their methods use supervoxels), both rounds, and wsegpc's one;
    # not MPRM, not DSP, not the bound
    assert jobs_planned(result) == {"geometry": 4, "stage1_train": 5, "stage1_pseudo": 20, "refine": 20, "stage1_predict": 3,
                                    "stage2_train": 1, "predict": 1, "evaluate": 15, "summary": 1, "plots": 1, "export": 6, "all": 1}
    assert "exp=mprm" not in result.stdout and "exp=fully_supervised" not in result.stdout


@pytest.mark.slow
def test_changing_the_last_rounds_setting_reruns_only_the_last_round_and_what_follows(run, tmp_path):
    (tmp_path / "changed.yaml").write_text("experiments:\n  clicks:\n    rounds: [{}, {epochs: 9}]\n")
    result = snakemake(run.parents[1], "-n", configs=(TINY, tmp_path / "changed.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert jobs_planned(result) == {"stage1_train": 1, "stage1_pseudo": 4, "refine": 4, "stage1_predict": 1,
                                    "stage2_train": 1, "predict": 1, "evaluate": 5, "summary": 1, "plots": 1, "export": 2, "all": 1}
    assert "round=1" not in result.stdout


def test_geometry_is_planned_only_for_experiments_whose_method_or_refiners_need_it(tmp_path):
    result = snakemake(tmp_path, "-n", "-p")
    assert result.returncode == 0, result.stderr[-2000:]
    assert jobs_planned(result)["geometry"] == 4  # the clicks experiment's training scenes
    lines = result.stdout.splitlines()
    refines = [line for line in lines if "python -m weakseg refine" in line]
    assert len(refines) == 4 + 8 + 8 + 4 + 4 and all(("--geometry" in line) == ("/clicks/" in line) for line in refines)
    # the method's own jobs get it too; round 2's also get round 1's refined labels
    trains = [line for line in lines if "python -m weakseg stage1-train" in line and "/clicks/" in line]
    assert len(trains) == 2 and all(line.count("pre/geometry/") == 4 for line in trains)
    assert sum("--previous" in line and line.count("refined/round1/pseudo.zarr/") == 4 for line in trains) == 1
    (tmp_path / "plain.yaml").write_text("experiments:\n  clicks:\n    enabled: false\n  densify:\n    enabled: false\n"
                                         "  wsegpc:\n    enabled: false\n")
    result = snakemake(tmp_path, "-n", configs=(TINY, tmp_path / "plain.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "geometry" not in jobs_planned(result) and "--geometry" not in result.stdout


def test_a_warm_started_round_trains_from_the_previous_rounds_model(tmp_path):
    """config.yaml's One Thing One Click continues round 1's networks in round 2; a round may opt out."""
    (tmp_path / "cold.yaml").write_text("experiments:\n  clicks:\n    rounds: [{}, {warm_start: false}]\n")
    for configs, warm in (((TINY,), True), ((TINY, tmp_path / "cold.yaml"), False)):
        result = snakemake(tmp_path, "-n", "-p", "results/tiny/clicks/stage1/round2/model.pt", configs=configs)
        assert result.returncode == 0, result.stderr[-2000:]
        trains = [line for line in result.stdout.splitlines() if "python -m weakseg stage1-train" in line]
        first, second = sorted(trains, key=lambda line: "round2/model.pt" in line)
        assert "--init" not in first
        assert ("--init results/tiny/clicks/stage1/round1/model.pt --out results/tiny/clicks/stage1/round2/model.pt" in second) == warm
        assert ("--init" in second) == warm


def test_preprocess_target_builds_geometry_for_every_scene_and_projections_for_those_with_frames(tmp_path):
    result = snakemake(tmp_path, "-n", "preprocess")
    assert result.returncode == 0, result.stderr[-2000:]
    assert jobs_planned(result) == {"scene": 6, "geometry": 6, "projections": 6, "preprocess": 1}  # synthetic: all have frames


@pytest.mark.parametrize("override, message", [
    ("stage2:\n  epochs: -3\n", "stage2.epochs: -3 is less than the minimum of 1"),
    ("experiments:\n  mprm:\n    supervision: {kind: point_fraction}\n",
     "experiments.mprm.supervision: needs one of `fraction`, `points`"),
    ("experiments:\n  mprm:\n    supervision: clicks\n", "experiment 'mprm': method 'mprm' cannot learn from 'clicks'"),
    # a method's own option on another method, a misspelt key, a refiner's misspelt option, a bad value
    ("experiments:\n  mprm:\n    stage1: {test_views: {rotations: 2, scales: [1.0]}}\n",
     "experiments.mprm.stage1: unknown option 'test_views' for method 'mprm' (it takes: attention_channels, batch_size,"),
    ("experiments:\n  mprm:\n    stage1: {epochz: 3}\n", "experiments.mprm.stage1: unknown option 'epochz' for method 'mprm'"),
    ("experiments:\n  clicks:\n    refiners: [{name: energy_propagation, iteratons: 3}]\n",
     "experiments.clicks.refiners[0]: unknown option 'iteratons' for refiner 'energy_propagation' (it takes: color_lambda,"),
    ("experiments:\n  clicks:\n    refiners: [{name: confidence_selection, threshold: 2}]\n",
     "experiments.clicks.refiners[0].threshold: 2 is greater than the maximum of 1"),
    ("experiments:\n  clicks:\n    rounds: [{}, {embeding_dim: 4}]\n",
     "experiments.clicks.rounds[1]: unknown option 'embeding_dim' for method 'otoc'"),
    ("experiments:\n  wsegpc:\n    stage1: {losses: [con_3d, rpc3d]}\n",
     "experiments.wsegpc.stage1.losses: 'rpc3d' is not one of ['con_3d', 'con_2d', 'rpc_3d', 'rpc_2d']"),
    ("experiments:\n  wsegpc:\n    stage1: {view: 4}\n", "experiments.wsegpc.stage1: unknown option 'view' for method 'wsegpc'"),
    ("experiments:\n  mprm:\n    rounds: 2\n",
     "experiment 'mprm': method 'mprm' does not learn from a previous round's labels, so it runs one round (rounds: 1)"),
    # a dataset type's own keys only: a Pointcept source has no generator settings
    ("dataset:\n  type: scannet_pointcept\n  root: .\n", "dataset: Unevaluated properties are not allowed ('num_train', 'num_val', 'scan', 'seed' were unexpected)"),
    ("dataset:\n  type: ply_folder\n  root: nowhere\n  num_train: 1\n", "dataset: Unevaluated properties"),
    ("preprocess:\n  geometry:\n    method: slic\n", "preprocess.geometry.method: 'slic' is not one of"),
    ("experiments:\n  clicks:\n    refiners: [{name: graph_propagaton}]\n", "unknown refiner 'graph_propagaton'; known:"),
    ("export:\n  scenes: [synth_val_0000, synth_val_0009]\n",
     "export.scenes: 'synth_val_0009' is not a scene of the dataset (it has 6, e.g. synth_val_0000, synth_val_0001, synth_train_0000)"),
    ("export:\n  scene: [synth_val_0000]\n", "export: Additional properties are not allowed ('scene' was unexpected)"),
])
def test_a_config_that_cannot_run_is_refused_before_anything_runs(tmp_path, override, message):
    (tmp_path / "bad.yaml").write_text(override)
    result = snakemake(tmp_path, "-n", configs=(TINY, tmp_path / "bad.yaml"))
    assert result.returncode == 1
    assert f"weakseg: error: {REPO / 'config.yaml'} + {TINY} + {tmp_path / 'bad.yaml'}: {message}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_a_config_file_given_alone_replaces_config_yaml(tmp_path):
    """tiny.yaml is an overlay: alone it lacks what config.yaml holds, and says so in one line."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
                             "--configfile", str(TINY)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert f"weakseg: error: {TINY}: top level: 'seed' is a required property" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_two_runs_from_scratch_give_identical_labels_and_metrics(faults_reference, tmp_path):
    result = subprocess.run(snakemake_command(tmp_path, "--cores", "2"), capture_output=True, text=True,
                            env=job_environment(), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    again = tmp_path / "results/faults"
    assert (again / "summary.csv").read_text() == (faults_reference / "summary.csv").read_text()
    def groups_of(results):  # predictions, and each round's pseudo and refined labels
        return sorted(p.relative_to(results) for pattern in ("*/*/*.zarr/synth_*", "*/*/round*/*.zarr/synth_*")
                      for p in results.glob(pattern))

    groups = groups_of(faults_reference)
    assert len(groups) == 22 and groups == groups_of(again)
    for group in groups:
        first, second = read_labels(faults_reference / group), read_labels(again / group)
        np.testing.assert_array_equal(first.label, second.label)
        np.testing.assert_array_equal(first.prob, second.prob)


REAL = next((p for p in (REPO.parent / "shared/data", Path("/work/shared/data")) if p.is_dir()), None)


@pytest.mark.skipif(REAL is None, reason="../shared/data (the real ScanNet sample) is not on this machine")
def test_the_real_data_config_plans_the_whole_dag_on_the_two_scannet_scenes(tmp_path):
    root = REAL / "scannet_pointcept"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
           "--configfile", str(REPO / "configs/scannet_pointcept.yaml"), "--config", f"dataset={{root: {root}}}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # sub-cloud MPRM, One Thing One Click (3 rounds), the point-supervised clicks baseline, the bound
    # and the plots, the palette and each experiment's export of the validation scene
    assert jobs_planned(result) == {"scene": 2, "weak_labels": 3, "geometry": 1, "stage1_train": 1 + 3 + 1, "stage1_pseudo": 5,
                                    "refine": 5, "stage1_predict": 2, "stage2_train": 4, "predict": 4,
                                    "evaluate": 4 + 9 + 5 + 2, "summary": 1, "plots": 1, "legend": 1, "export": 4, "all": 1}
    assert "scene0011_01" in result.stdout


def test_scans_without_ground_truth_end_at_pseudo_labels_and_a_model(tmp_path):
    """A folder of the user's PLY scans with a CSV of scene tags: the tags feed the weak labels,
    nothing is evaluated, and the run's targets are the pseudo labels and the predictions."""
    from tiny_sources import write_ply

    xyz = np.random.default_rng(0).uniform(0, 3, (50, 3)).astype(np.float32)
    for name in ("office_1", "office_2"):
        write_ply(tmp_path / "scans" / f"{name}.ply", x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])
    (tmp_path / "tags.csv").write_text("scene_id,tags\noffice_1,wall;floor;chair\noffice_2,wall; table\n")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"] = {"name": "mine", "type": "ply_folder", "root": str(tmp_path / "scans"), "tags_csv": str(tmp_path / "tags.csv")}
    config["experiments"] = {"mprm": {**config["experiments"]["mprm"], "enabled": True}}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "run"), "-n", "-p",
           "--configfile", str(tmp_path / "mine.yaml")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # no validation split: the exports are of the first two training scenes
    assert jobs_planned(result) == {"scene": 2, "weak_labels": 2, "stage1_train": 1, "stage1_pseudo": 2, "refine": 2,
                                    "stage2_train": 1, "predict": 1, "legend": 1, "export": 2, "all": 1}
    assert '"tags": [0, 1, 4]' in result.stdout and '"tags": [0, 6]' in result.stdout  # wall, floor, chair; wall, table
