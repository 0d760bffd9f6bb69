"""The DAG through a real SLURM: a single-node cluster on this machine (scripts/slurm-test-cluster),
the workflow profile workflow/profiles/slurm, the faults config (tiny trimmed to 2 + 1 scenes). The
results must equal those of the local reference run (conftest.faults_reference),
and a job that fails on its first attempt must be resubmitted (the profile's `retries`).

Skipped, with the reason, where the cluster cannot be started (not root, Debian's slurmctld, slurmd,
slurm-client and munge not installed: scripts/install-test-deps, or a slurm.conf that is not ours).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, job_environment, snakemake_command
from weakseg.io import read_labels

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
    """Run the faults config's DAG in `workdir` (cwd too: no stray `default` profile directory
    can be picked up there); returns (returncode, wall seconds, output)."""
    t0 = time.perf_counter()
    result = subprocess.run(snakemake_command(workdir, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=job_environment(path), cwd=workdir, timeout=900)
    return result.returncode, time.perf_counter() - t0, result.stdout


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
    """Every label group: predictions, and each round's pseudo and refined labels."""
    return sorted(p.relative_to(results) for pattern in ("*/*/*.zarr/synth_*", "*/*/round*/*.zarr/synth_*")
                  for p in results.glob(pattern))


def test_slurm_run_matches_local_run_and_retries_a_failed_job(cluster, faults_reference, tmp_path):
    slurm_dir = tmp_path / "slurm"
    slurm_dir.mkdir()
    bindir, marker = failing_python(tmp_path)
    # The profile as users run it. Overridden for this 2-core machine: the training rules' threads
    # (1, as `--cores 2` gives them locally, so that the results can be compared bit for bit).
    slurm_rc, slurm_s, log = snakemake(slurm_dir, "--profile", str(PROFILE),
                                       "--set-threads", "stage1_train=1", "stage2_train=1", "predict=1", "stage1_predict=1", path=str(bindir))
    print(f"\nfaults config through SLURM: {slurm_s:.1f} s")
    assert slurm_rc == 0, log[-5000:]

    # Every job went through SLURM, and the injected failure was resubmitted.
    assert "has been submitted with SLURM jobid" in log
    assert marker.is_dir(), "the fault was never injected"
    assert "Trying to restart job" in log
    # (the profile groups a scene's pseudo labels with their refinement: one job, one log; the
    # fault hits the first refinement of the scene, of whichever experiment and round comes first)
    labels_logs = sorted((slurm_dir / ".snakemake/slurm_logs").glob("group_labels_*/*.log"), key=lambda p: int(p.stem))  # by SLURM job id
    failed = [p for p in labels_logs if "Error in rule" in p.read_text()]
    assert len(failed) == 1, failed
    job = re.search(rf"refine:exp=\w+,round=\d+,scene={FAIL_SCENE}", failed[0].read_text()).group(0)
    attempts = [p for p in labels_logs if job in p.read_text()]
    # the failed attempt, then the retry (the injected message itself went to the rule's log,
    # which the retry rewrote)
    assert attempts[0] == failed[0] and len(attempts) == 2, attempts

    # The same results as the local run.
    a, b = faults_reference, slurm_dir / "results/faults"
    assert (b / "summary.csv").read_text() == (a / "summary.csv").read_text()
    metrics = sorted(p.relative_to(a) for p in a.glob("*/metrics/*.json"))
    assert len(metrics) == 4 + 7 + 2 and metrics == sorted(p.relative_to(b) for p in b.glob("*/metrics/*.json"))
    for m in metrics:
        assert json.loads((b / m).read_text()) == json.loads((a / m).read_text()), m
    stores = label_stores(a)
    # mprm: 2 + 2 labels, 3 predictions; clicks: 2 rounds of 2 + 2, its own 1 val, 3; the bound 3
    assert len(stores) == 7 + 12 + 3 and stores == label_stores(b)
    for group in stores:
        x, y = read_labels(a / group), read_labels(b / group)
        np.testing.assert_array_equal(x.label, y.label, err_msg=str(group))
        np.testing.assert_array_equal(x.prob, y.prob, err_msg=str(group))
