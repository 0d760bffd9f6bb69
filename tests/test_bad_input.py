"""The bad-input corpus (tests/bad_inputs.py): one clear WeaksegError per case, naming the file."""

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bad_inputs import BAD_INPUTS, exercise, ply_unsafe_name, pointcept_nan
from tiny_sources import pointcept_scene, ply_folder_root, s3dis_root, scannet_root
from conftest import job_environment
from weakseg.cli import main
from weakseg.datasets import DATASETS
from weakseg.errors import WeaksegError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("build, phrase", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gives_one_message_naming_the_file_and_the_problem(tmp_path, build, phrase):
    settings, path = build(tmp_path)
    with pytest.raises(WeaksegError) as caught:
        exercise(settings)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    assert phrase in message, message
    assert "\n" not in message and "Traceback" not in message


def test_the_corpus_covers_each_case_once():
    names = [case[0] for case in BAD_INPUTS]
    assert len(names) == len(set(names))


def _layouts(root):
    """One tiny source per reader type, as (settings, folder holding every file the reader reads)."""
    ply, _ = ply_folder_root(root / "ply" / "scans")
    (root / "ply" / "tags.csv").write_text("scene_id,tags\noffice_1,chair\n")
    pointcept_scene(root / "pointcept" / "scene_a")
    return [({"type": "scannet", "root": str(scannet_root(root / "scannet", frames=True)), "frames": True, "frame_stride": 1},
             root / "scannet"),
            ({"type": "s3dis", "root": str(s3dis_root(root / "s3dis"))}, root / "s3dis"),
            ({"type": "scannet_pointcept", "root": str(root / "pointcept")}, root / "pointcept"),
            ({"type": "ply_folder", "root": str(ply), "tags_csv": str(root / "ply" / "tags.csv")}, root / "ply")]


def test_randomly_damaged_sources_give_weakseg_errors_only(tmp_path):
    """Truncate, overwrite or insert random bytes in one file of a tiny source: a clean load or one WeaksegError."""
    rng = random.Random(0)
    layouts = _layouts(tmp_path / "clean")
    for trial in range(400):
        settings, folder = layouts[trial % len(layouts)]
        work = tmp_path / f"trial{trial}"
        shutil.copytree(folder, work)
        settings = {k: v.replace(str(folder), str(work)) if isinstance(v, str) else v for k, v in settings.items()}
        victim = rng.choice(sorted(p for p in work.rglob("*") if p.is_file()))
        data = bytearray(victim.read_bytes())
        at = rng.randrange(len(data) + 1)
        if trial % 3 == 0:
            data = data[:at]
        elif trial % 3 == 1 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        else:
            data[at:at] = bytes([rng.randrange(256)])
        victim.write_bytes(bytes(data))
        try:
            exercise(settings)
        except WeaksegError:
            pass
        shutil.rmtree(work)


# --------------------------------------------------------------------------- through the DAG
# The DAG meets a bad source in one of two places: at parse time (common.smk lists the scenes and
# reads the tags: one `weakseg: error:` line, nothing run) or in the `scene` job that converts it
# (`weakseg scene`: one line in the job's log, exit 1, no scene file).

def _listing(settings):
    """What the Snakefile does with the dataset at parse time; None when that goes through."""
    try:
        reader = DATASETS.get(settings["type"])(settings)
        reader.scenes()
        if hasattr(reader, "scene_tags"):
            reader.scene_tags()
        return None
    except WeaksegError as err:
        return str(err)


@pytest.mark.parametrize("build, phrase", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_the_dag_stops_each_case_at_parse_time_or_in_its_scene_job(tmp_path, build, phrase, capsys):
    settings, path = build(tmp_path)
    at_parse_time = _listing(settings)
    if at_parse_time is not None:
        assert at_parse_time.startswith(f"{path}:") and phrase in at_parse_time
        return
    out = tmp_path / "results"
    scene_ids = sorted(DATASETS.get(settings["type"])(settings).scenes())
    codes = {s: main(["scene", "--settings", json.dumps(settings), "--scene", s, "--out", str(out / f"{s}.h5")]) for s in scene_ids}
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert list(codes.values()).count(1) == 1 and len(errors) == 1, errors
    assert errors[0].startswith(f"weakseg scene: error: {path}:") and phrase in errors[0]
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert written == [f"{s}.h5" for s, code in codes.items() if code == 0]  # nothing for the bad scene, no temporaries


def _dag(tmp_path, dataset):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"] = {"name": "bad", **dataset}
    config["experiments"] = {"fully_supervised": {"supervision": "full"}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "run"),
           "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"), "--until", "scene"]
    env = job_environment()
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_the_dag_stops_at_parse_time_with_one_line(tmp_path):
    settings, path = ply_unsafe_name(tmp_path)
    result = _dag(tmp_path, settings)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"weakseg: error: {path}: ")
    assert "Traceback" not in result.stderr and not (tmp_path / "run" / "results").exists()


@pytest.mark.slow
def test_the_dag_stops_in_the_scene_job_and_leaves_no_scene(tmp_path):
    settings, path = pointcept_nan(tmp_path / "source")
    result = _dag(tmp_path, settings)
    assert result.returncode == 1
    assert "Error in rule scene" in result.stderr
    log = (tmp_path / "run/results/bad/logs/scenes/scene_a.log").read_text().strip().splitlines()
    assert len(log) == 1 and log[0].startswith(f"weakseg scene: error: {path}: ") and "NaN or inf coordinates" in log[0]
    assert not (tmp_path / "run/results/bad/scenes").exists() or not any((tmp_path / "run/results/bad/scenes").iterdir())
