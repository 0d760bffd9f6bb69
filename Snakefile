# weakseg: weak labels on indoor scans -> pseudo labels -> dense segmentation model.
# The flow and the data contracts: docs/DESIGN.md. Options: config.yaml and README.md.
import os
import shlex
import sys

from snakemake.utils import min_version

min_version("9.0")

# `snakemake --report report.html` after a run: the summary, the plots and the exports, each with
# its caption from workflow/report/.
report: "workflow/report/workflow.rst"

# config.yaml, unless config files are given: `--configfile a.yaml b.yaml` merges them in order,
# so an overlay of the default lists config.yaml first, and a config for another dataset type
# (whose `dataset:` keys differ) stands alone.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


# Jobs run `python -m weakseg` from this checkout: the `python` on PATH (the activated
# environment, or the rule's conda env under --use-conda) with this checkout's src/ first.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
# (Snakemake formats the prefix like a shell command: literal braces are doubled.)
_src = shlex.quote(SRC).replace("{", "{{").replace("}", "}}")
shell.prefix(f"set -euo pipefail; export PYTHONPATH={_src}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/stage1.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/stage2.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
