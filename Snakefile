# weakseg: weak labels on indoor scans -> pseudo labels -> dense segmentation model.
# The flow and the data contracts: docs/DESIGN.md. Options: config.yaml and README.md.
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

configfile: os.path.join(workflow.basedir, "config.yaml")

validate(config, os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"))

# Jobs run `python -m weakseg` from this checkout, with the interpreter that runs Snakemake
# (a conda env's own python comes first on PATH under --use-conda).
SRC = os.path.join(workflow.basedir, "src")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
os.environ["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), os.environ["PATH"]))
sys.path.insert(0, SRC)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/stage1.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/stage2.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        f"{R}/summary.md",
        f"{R}/summary.csv",
    default_target: True
