"""The DAG through a real SLURM: a single-node cluster on this machine (scripts/slurm-test-cluster),
the workflow profile workflow/profiles/slurm, the tiny config. The results must equal a local run's,
and a job that fails on its first attempt must be resubmitted (the profile's `retries`).

Skipped, with the reason, where the cluster cannot be started (not root, Debian's slurmctld, slurmd,
slurm-client and munge not installed: scripts/install-test-deps, or a slurm.conf that is not ours).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from weakseg.io import read_labels

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/configs/tiny.yaml"
# tiny trimmed to 2 + 1 scenes, scene-tag MPRM and the bound: keeps `make test` within 10 minutes
SMALLEST = REPO / "tests/configs/faults.yaml"
PROFILE = REPO / "workflow/profiles/slurm"
CLUSTER = REPO / "scripts/slurm-test-cluster"
FAIL_RULE, FAIL_SCENE = "refine", "synth_train_0001"

pytestmark = pytest.mark.slow


def why_no_slurm():
    if os.name != "posix" or os.geteuid() != 0:
        return "the single-node SLURM test cluster needs root (slurmd runs as root, without cgroups)"
    missing = [t for t in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel") if not shutil.which(t)]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: scripts/install-test-deps installs slurmctld slurmd slurm-client munge)"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = why_no_slurm()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=120)
    try:
        if started.returncode != 0:
            pytest.skip(f"could not start the SLURM test cluster: {(started.stderr or started.stdout).strip()[-800:]}")
        yield state
    finally:
        # Every daemon the script started, by the PIDs it recorded, even when the test failed.
        stopped = subprocess.run([str(CLUSTER), "stop", str(state)], capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        for daemon in ("munged", "slurmctld", "slurmd"):
            assert not (state / f"{daemon}.pid").exists()


def snakemake(workdir, *args, path=None):
    """Start the tiny DAG in `workdir`; returns the process and its start time."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=os.pathsep.join(p for p in (path, bindir, os.environ["PATH"]) if p))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(REPO / "config.yaml"), str(TINY), str(SMALLEST), *args]
    # cwd: the work directory, where no stray `default` profile directory can be picked up
    out = open(workdir / "snakemake.out", "w")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir), time.perf_counter()


def finish(*started, timeout=900):
    """Wait for every process; returns (returncode, wall seconds) for each."""
    done = {}
    deadline = time.perf_counter() + timeout
    try:
        while len(done) < len(started) and time.perf_counter() < deadline:
            for i, (proc, t0) in enumerate(started):
                if i not in done and proc.poll() is not None:
                    done[i] = (proc.returncode, time.perf_counter() - t0)
            time.sleep(0.2)
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(done) == len(started), f"a run took more than {timeout} s"
    return [done[i] for i in range(len(started))]


def failing_python(tmp_path):
    """A `python` first on PATH that fails the first `python -m weakseg refine` of one scene (the
    SLURM jobs inherit PATH: the plugin submits with --export=ALL), and is the real one otherwise."""
    bindir, marker = tmp_path / "fault-bin", tmp_path / "fault-fired"
    bindir.mkdir()
    wrapper = bindir / "python"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" -m weakseg {FAIL_RULE} "*{FAIL_SCENE}*)\n'
        f'  if mkdir "{marker}" 2>/dev/null; then echo "injected fault: first {FAIL_RULE} of {FAIL_SCENE}" >&2; exit 3; fi ;;\n'
        "esac\n"
        f'exec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return bindir, marker


def label_stores(results):
    return sorted(p.relative_to(results) for p in results.glob("*/*/*.zarr/synth_*"))


def test_slurm_run_matches_local_run_and_retries_a_failed_job(cluster, tmp_path):
    local_dir, slurm_dir = tmp_path / "local", tmp_path / "slurm"
    local_dir.mkdir()
    slurm_dir.mkdir()

    # The local reference runs beside the SLURM run (the SLURM run mostly waits for status
    # checks), so the two wall times printed below are not a speed comparison: README.md has
    # sequential figures.
    local = snakemake(local_dir, "--cores", "2")
    bindir, marker = failing_python(tmp_path)
    # The profile as users run it. Overridden for this 2-core machine: the training rules' threads
    # (1, as `--cores 2` gives them locally, so that the results can be compared bit for bit), and
    # the status-check interval (the profile's 10 s would dominate a DAG of seconds-long jobs).
    slurm = snakemake(slurm_dir, "--profile", str(PROFILE),
                      "--set-threads", "stage1_train=1", "stage2_train=1", "predict=1",
                      "--slurm-init-seconds-before-status-checks", "2", path=str(bindir))
    (local_rc, local_s), (slurm_rc, slurm_s) = finish(local, slurm)
    print(f"\ntiny config, side by side: local run {local_s:.1f} s, SLURM run {slurm_s:.1f} s")
    log = (slurm_dir / "snakemake.out").read_text()
    assert local_rc == 0, (local_dir / "snakemake.out").read_text()[-3000:]
    assert slurm_rc == 0, log[-5000:]

    # Every job went through SLURM, and the injected failure was resubmitted.
    assert "has been submitted with SLURM jobid" in log
    assert marker.is_dir(), "the fault was never injected"
    assert "Trying to restart job" in log
    fail_logs = sorted((slurm_dir / f".snakemake/slurm_logs/rule_{FAIL_RULE}").glob(f"*{FAIL_SCENE}*/*.log"),
                       key=lambda p: int(p.stem))  # by SLURM job id
    assert len(fail_logs) == 2, fail_logs  # the failed attempt and the retry, two SLURM jobs
    # (the injected message itself went to the rule's log, which the retry rewrote)
    assert ["Error in rule" in p.read_text() for p in fail_logs] == [True, False]

    # The same results as the local run.
    a, b = local_dir / "results/faults", slurm_dir / "results/faults"
    assert (b / "summary.csv").read_text() == (a / "summary.csv").read_text()
    metrics = sorted(p.relative_to(a) for p in a.glob("*/metrics/*.json"))
    assert len(metrics) == 6 and metrics == sorted(p.relative_to(b) for p in b.glob("*/metrics/*.json"))
    for m in metrics:
        assert json.loads((b / m).read_text()) == json.loads((a / m).read_text()), m
    stores = label_stores(a)
    assert len(stores) == 2 + 2 + 3 + 3 and stores == label_stores(b)
    for group in stores:
        x, y = read_labels(a / group), read_labels(b / group)
        np.testing.assert_array_equal(x.label, y.label, err_msg=str(group))
        np.testing.assert_array_equal(x.prob, y.prob, err_msg=str(group))
