import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from weakseg.classes import SCANNET20
from weakseg.io import Scene


def make_scene(coord, label, color=None, normal=None, instance=None, scene_id="s0", split="train"):
    coord = np.asarray(coord, np.float32)
    n = len(coord)
    if color is None:
        color = np.full((n, 3), 128, np.uint8)
    if normal is None:
        normal = np.tile(np.array([0, 0, 1], np.float32), (n, 1))
    if instance is None:
        instance = np.asarray(label, np.int32)
    return Scene(scene_id, "test", split, SCANNET20, coord, np.asarray(color, np.uint8), np.asarray(normal, np.float32),
                 np.asarray(label, np.int16), np.asarray(instance, np.int32))


def box_surface(lo, hi, step, rng):
    """Points on the surface of an axis-aligned box (jittered grid), with outward normals."""
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    pts, nrm = [], []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        u = np.arange(lo[others[0]], hi[others[0]], step)
        v = np.arange(lo[others[1]], hi[others[1]], step)
        uu, vv = np.meshgrid(u, v, indexing="ij")
        for side, value in ((-1, lo[axis]), (1, hi[axis])):
            p = np.zeros((uu.size, 3), np.float32)
            p[:, others[0]], p[:, others[1]], p[:, axis] = uu.ravel(), vv.ravel(), value
            n = np.zeros_like(p)
            n[:, axis] = side
            pts.append(p)
            nrm.append(n)
    p = np.concatenate(pts)
    return p + rng.normal(0, step * 0.05, p.shape).astype(np.float32), np.concatenate(nrm)


@pytest.fixture
def one_thread():
    """Two threads' partial sums of a weight gradient meet in varying order in spconv's CPU
    kernels (about one run in four differs in its last bits, with or without a kill):
    bit-identical resumption is a property of one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- one shared DAG run
REPO = Path(__file__).resolve().parents[1]
# tests/configs/faults.yaml: the tiny config trimmed to 2 + 1 scenes, scene-tag MPRM and the bound
FAULTS_CONFIGS = (REPO / "config.yaml", REPO / "tests/configs/tiny.yaml", REPO / "tests/configs/faults.yaml")


def snakemake_command(workdir, *args, configs=FAULTS_CONFIGS):
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", *map(str, configs), *args]


def job_environment(path=None):
    """The jobs run `python` from PATH: this interpreter's, after `path` if given."""
    return dict(os.environ, PATH=os.pathsep.join(p for p in (path, str(Path(sys.executable).parent), os.environ["PATH"]) if p))


@pytest.fixture(scope="session")
def faults_reference(tmp_path_factory):
    """One uninterrupted local run of the faults config, from nothing: the reference that the
    killed-and-resumed run, the SLURM run and a second run from scratch must equal."""
    workdir = tmp_path_factory.mktemp("faults-reference")
    result = subprocess.run(snakemake_command(workdir, "--cores", "2"), capture_output=True, text=True,
                            env=job_environment(), cwd=workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "results/faults"
