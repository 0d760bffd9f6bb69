"""A DAG killed with SIGKILL (snakemake and every job it started, at once) during data generation,
then, rerun with --rerun-incomplete, killed again during stage-one training, during pseudo-label
writing, during refinement and during the second self-training round's training, and finally
rerun to the end, gives the same scenes, models, pseudo labels, predictions and metrics as an
uninterrupted run. After every kill, whatever sits at an
output's name is complete and equal to the uninterrupted run's (half-written files only ever exist
under `.tmp-*` names); stage-one training resumes from its last per-epoch checkpoint.

One DAG killed five times in a row rather than five DAGs killed once: each kill point is reached
by a rerun of the previous kill (the user's path), and the test costs two runs of the DAG, not
six. The kill points after data generation follow the clicks experiment's chain (One Thing One
Click, two rounds), whose steps run strictly one after another.
Runs on tests/configs/faults.yaml (smaller than tiny).
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FAULTS_CONFIGS, REPO, job_environment, snakemake_command
from weakseg.io import read_labels, read_scene

R = "results/faults"

pytestmark = pytest.mark.slow


def command(workdir, *args, configs=FAULTS_CONFIGS):
    return snakemake_command(workdir, "--cores", "2", *args, configs=configs)


def environment():
    return job_environment()


def snakemake(workdir, *args):
    result = subprocess.run(command(workdir, *args), capture_output=True, text=True, env=environment(), cwd=workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def session_pids(sid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: the session id
                pids.append(int(entry))
    return pids


def run_and_kill(workdir, moment, *args, timeout=300):
    """Start the DAG in its own session; at `moment(results)` SIGKILL the whole session (snakemake
    and its running jobs: they do not leave it), like a node or a terminal dying."""
    proc = subprocess.Popen(command(workdir, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment(),
                            cwd=workdir, start_new_session=True)
    results, t0 = workdir / R, time.monotonic()
    try:
        while not moment(results):
            assert proc.poll() is None, "the run finished before the kill point"
            assert time.monotonic() - t0 < timeout, "kill point never reached"
            time.sleep(0.02)
    finally:
        for _ in range(50):  # until nothing of the session is left (a job may fork meanwhile)
            pids = session_pids(proc.pid)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        proc.wait()
    return proc.returncode


def any_file(results, pattern):
    return any(results.glob(pattern))


# The moments: the first scene written while the others are being generated; round 1's
# checkpoint written, its model not yet; the first pseudo-label group under construction or
# written; the same for the refined labels; round 2's checkpoint written, its model not yet.
ROUND1, ROUND2 = "clicks/stage1/round1", "clicks/stage1/round2"
MOMENTS = {
    "data_generation": lambda r: any_file(r, "scenes/*.h5"),
    "stage1_training": lambda r: (r / f"{ROUND1}/model.ckpt").exists() and not (r / f"{ROUND1}/model.pt").exists(),
    "pseudo_labels": lambda r: any_file(r, f"{ROUND1}/pseudo.zarr/.tmp-*") or any_file(r, f"{ROUND1}/pseudo.zarr/synth_*"),
    "refinement": lambda r: any_file(r, "clicks/refined/round1/pseudo.zarr/.tmp-*") or any_file(r, "clicks/refined/round1/pseudo.zarr/synth_*"),
    "round2_training": lambda r: (r / f"{ROUND2}/model.ckpt").exists() and not (r / f"{ROUND2}/model.pt").exists(),
}
GROUPS = ("*/*/*.zarr/synth_*", "*/*/round*/*.zarr/synth_*")  # predictions; each round's labels


@pytest.fixture
def reference(faults_reference):
    return faults_reference


def outputs(results):
    """Every output of the DAG present under its own name, and the `.tmp-*` names beside them."""
    listed = sorted(p for pattern in ("scenes/*.h5", "*/weak/*.json", "*/stage2/model.pt", "*/stage1/round*/model.pt",
                                      *GROUPS, "*/metrics/*.json", "summary.*") for p in results.glob(pattern)
                    if not p.name.startswith(".tmp-"))
    leftovers = sorted(results.rglob(".tmp-*"))
    return listed, leftovers


def assert_complete(listed):
    """Whatever sits at an output's name is complete: it reads back."""
    for path in listed:
        if path.suffix == ".h5":
            read_scene(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pt":
            __import__("torch").load(path, weights_only=True)
        elif path.parent.suffix == ".zarr":
            read_labels(path)


def assert_same_results(run, reference):
    listed, _ = outputs(run)
    assert [p.relative_to(run) for p in listed] == [p.relative_to(reference) for p in outputs(reference)[0]]
    assert_complete(listed)
    assert (run / "summary.csv").read_text() == (reference / "summary.csv").read_text()
    for path in sorted(reference.glob("*/metrics/*.json")):
        assert json.loads((run / path.relative_to(reference)).read_text()) == json.loads(path.read_text()), path
    for group in sorted(g for pattern in GROUPS for g in reference.glob(pattern)):
        a, b = read_labels(group), read_labels(run / group.relative_to(reference))
        np.testing.assert_array_equal(b.label, a.label, err_msg=str(group))
        np.testing.assert_array_equal(b.prob, a.prob, err_msg=str(group))
        np.testing.assert_array_equal(b.confidence, a.confidence, err_msg=str(group))


def same_content(path, ref):
    if path.suffix == ".h5":
        a, b = read_scene(path, frames=True), read_scene(ref, frames=True)
        for name in ("coord", "color", "normal", "label", "instance"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=str(path))
    elif path.suffix in (".json", ".csv", ".md"):
        assert path.read_text() == ref.read_text(), path
    elif path.suffix == ".pt":
        torch = __import__("torch")
        a, b = torch.load(path, weights_only=True)["model"], torch.load(ref, weights_only=True)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), path
    elif path.parent.suffix == ".zarr":
        a, b = read_labels(path), read_labels(ref)
        for name in ("label", "prob", "confidence"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=str(path))


def test_dag_killed_at_five_points_resumes_to_the_uninterrupted_results(reference, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    results = workdir / R
    for i, (name, moment) in enumerate(MOMENTS.items()):
        rc = run_and_kill(workdir, moment, *(("--rerun-incomplete",) if i else ()))
        assert rc == -signal.SIGKILL, name
        listed, leftovers = outputs(results)
        assert not (results / "summary.csv").exists()
        assert_complete(listed)  # nothing half-written under an output's name
        for path in listed:  # and what is there is what the uninterrupted run made
            same_content(path, reference / path.relative_to(results))
        if name == "round2_training":
            epochs_done = int(__import__("torch").load(results / f"{ROUND2}/model.ckpt", weights_only=True)["epoch"])
            assert epochs_done >= 1
        print(f"killed during {name}: {len(listed)} outputs complete, {len(leftovers)} .tmp-* left behind")
        # SIGKILL leaves Snakemake's lock behind: the user unlocks, then reruns
        snakemake(workdir, "--unlock")

    snakemake(workdir, "--rerun-incomplete")

    # round 2 continued from the checkpoint of the kill (weights, optimiser, memory bank), not from epoch 0
    log = (results / "logs/clicks/round2/stage1_train.log").read_text()
    assert "resuming stage one from" in log and f"at epoch {epochs_done}/" in log, log[-2000:]
    assert_same_results(results, reference)
    for path in outputs(results)[0]:
        same_content(path, reference / path.relative_to(results))
    # Half-written files stay behind under their `.tmp-*` names (nothing reads them: every rule
    # names its inputs); they are never at an output's name.
    assert all(p.name.startswith(".tmp-") for p in outputs(results)[1])
    again = subprocess.run(command(workdir, "-n"), capture_output=True, text=True, env=environment(), cwd=workdir)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_retraining_on_changed_inputs_does_not_resume_an_old_checkpoint(reference, tmp_path):
    """A finished training leaves its last checkpoint behind; when the rule reruns because its
    input changed (here: the refined labels, after a refiner setting changed), that checkpoint was
    made from other data and must not be resumed (it would return the old model unchanged)."""
    import shutil

    import torch
    import yaml

    workdir = tmp_path / "copy"
    shutil.copytree(reference.parents[1], workdir, symlinks=True)
    results = workdir / R
    before = torch.load(results / "mprm/stage2/model.pt", weights_only=True)["model"]
    refiners = yaml.safe_load((REPO / "config.yaml").read_text())["experiments"]["mprm"]["refiners"]
    refiners[-1]["drop"] = 0.3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"experiments": {"mprm": {"refiners": refiners}}}))
    result = subprocess.run(command(workdir, configs=(*FAULTS_CONFIGS, changed)), capture_output=True, text=True, env=environment(),
                            cwd=workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (results / "logs/mprm/stage2_train.log").read_text()
    assert "resuming" not in log and "stage two epoch 1/" in log, log[-2000:]
    after = torch.load(results / "mprm/stage2/model.pt", weights_only=True)["model"]
    assert not all(torch.equal(before[k], after[k]) for k in before)
