"""`snakemake --use-conda`: every rule names a conda environment, the environments are pinned and
bring every third-party module the jobs import, and the workflow lints clean. conda itself cannot
be installed on this project's test machines: the run with --use-conda is skipped where neither
conda nor mamba is on PATH (it runs wherever one is).
"""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import job_environment

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/configs/tiny.yaml"
ENVS = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]

# Import name -> the package that provides it (conda-forge or PyPI name).
PACKAGE_OF = {"yaml": "pyyaml", "sklearn": "scikit-learn", "spconv": "spconv-cu120", "cumm": "cumm-cu120",
              "pydensecrf": "pydensecrf2", "PIL": "pillow", "matplotlib": "matplotlib-base"}
# PyPI name -> conda-forge name, where they differ (conda-forge's matplotlib adds a GUI toolkit).
CONDA_NAME = {"matplotlib": "matplotlib-base"}
# Imported by the Snakefile itself, which runs in Snakemake's own environment, not in a rule's.
NOT_IN_RULE_ENVS = {"snakemake"}
LOCAL = {"weakseg"}


def env_packages(path):
    """name -> version of every package an environment file pins; unpinned ones map to None."""
    spec = yaml.safe_load(path.read_text())
    out = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):  # {"pip": [...]}
            for line in dep["pip"]:
                m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==\s*([0-9][^\s;]*)", line)
                out[(m[1] if m else line).lower()] = m[2] if m else None
        else:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==?\s*([0-9][^\s=]*)", dep)
            out[(m[1] if m else dep).lower()] = m[2] if m else None
    return spec, out


def third_party_imports():
    """Top-level modules imported anywhere in src/weakseg and the workflow files, minus the standard
    library and weakseg itself. Rule files are not Python: their import lines are read as text."""
    names = set()
    for path in (REPO / "src/weakseg").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    for path in RULE_FILES:
        names.update(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", path.read_text(), re.M))
    return names - set(sys.stdlib_module_names) - LOCAL - {"__future__"}


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_file_pins_every_package_from_conda_forge(path):
    spec, packages = env_packages(path)
    assert spec["channels"][0] == "conda-forge" and "defaults" not in spec["channels"]
    unpinned = [name for name, version in packages.items() if version is None]
    assert not unpinned, f"{path.name}: no version for {unpinned}"
    assert "python" in packages


def test_envs_bring_every_module_the_jobs_import():
    imports = third_party_imports()
    assert {"numpy", "torch", "spconv", "h5py", "zarr"} <= imports  # the scan found the real imports
    provided = set().union(*(env_packages(p)[1] for p in ENVS))
    missing = sorted(m for m in imports - NOT_IN_RULE_ENVS if PACKAGE_OF.get(m, m).lower() not in provided)
    assert not missing, f"imported but in no envs/*.yaml: {missing}"
    # spconv's CUDA build comes from PyPI (conda-forge has no spconv-cu120): through pip in the env
    _, weakseg_env = env_packages(REPO / "envs/weakseg.yaml")
    pip = [d for d in yaml.safe_load((REPO / "envs/weakseg.yaml").read_text())["dependencies"] if isinstance(d, dict)]
    assert any(line.startswith("spconv-cu120==") for d in pip for line in d["pip"])


def test_env_pins_match_requirements():
    """The conda env and `make`'s venv install the same versions."""
    req = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "requirements.txt").read_text(), re.M))
    req = {CONDA_NAME.get(k.lower(), k.lower()): v for k, v in req.items()}
    _, env = env_packages(REPO / "envs/weakseg.yaml")
    differ = {name: (version, req[name]) for name, version in env.items() if name in req and req[name] != version}
    assert not differ, f"envs/weakseg.yaml vs requirements.txt: {differ}"


def test_every_rule_with_a_command_has_a_conda_env():
    rules = {}
    for path in RULE_FILES:
        text = path.read_text()
        starts = [(m.start(), m[1]) for m in re.finditer(r"^rule (\w+):", text, re.M)] + [(len(text), None)]
        for (begin, name), (end, _) in zip(starts, starts[1:]):
            rules[name] = text[begin:end]
    assert {"scene", "stage1_train", "refine", "stage2_train", "predict", "evaluate", "summary"} <= set(rules)
    with_commands = {n: body for n, body in rules.items() if re.search(r"^\s+(shell|run|script):", body, re.M)}
    missing = sorted(n for n, body in with_commands.items() if not re.search(r"^\s+conda:", body, re.M))
    assert not missing, f"rules without conda: {missing}"
    for body in with_commands.values():
        env = re.search(r"^\s+conda:\s*\n?\s*(\S+)", body, re.M)[1]
        assert env == "ENV" or (REPO / "workflow/rules" / env.strip("\"'")).resolve().exists(), env


def run(workdir, *args, timeout=600):
    env = job_environment()
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(TINY), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)


def test_lint_is_clean(tmp_path):
    result = run(tmp_path, "--lint")
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "Congratulations, your workflow is in a good condition!" in out, out[-3000:]


@pytest.mark.slow
def test_use_conda_runs_the_tiny_config(tmp_path):
    frontend = next((f for f in ("mamba", "conda") if shutil.which(f)), None)
    if frontend is None:
        pytest.skip("neither conda nor mamba on PATH (cannot be installed on this project's test machines); "
                    "run `snakemake --cores all --use-conda` where conda exists")
    result = run(tmp_path, "--cores", "2", "--use-conda", "--conda-frontend", frontend,
                 "--conda-prefix", str(tmp_path / "conda-envs"), timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "results/tiny/summary.csv").read_text().count("\n") == 14
