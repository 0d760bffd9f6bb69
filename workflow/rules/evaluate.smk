# Scores of every stage's labels against the ground truth, and one table across experiments.

# Seconds of work each: with a cluster executor they run in the main Snakemake process, not as
# jobs that would each start Snakemake twice more on the cluster (workflow/profiles/slurm/README.md).
localrules:
    evaluate,
    summary,


rule evaluate:
    input:
        scenes=lambda w: scene_files(w.split),
        # predictions are one store (a directory output), pseudo labels one group per scene
        labels=lambda w: label_store(w.exp, w.stage, w.split),
        weak=lambda w: [] if kind(w.exp) == FULL else weak_files(w.exp, "train"),
    output:
        f"{R}/{{exp}}/metrics/{{stage}}_{{split}}.json",
    params:
        classes=CLASSES,
        supervision=lambda w: kind(w.exp),
        method=lambda w: method_name(w.exp),
        groups=lambda w: label_groups(w.exp, w.stage, w.split),
    log:
        f"{R}/logs/{{exp}}/evaluate/{{stage}}_{{split}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg evaluate --classes {params.classes:q} --scenes {input.scenes} --labels {params.groups}"
        " --weak {input.weak} --stage {wildcards.stage} --split {wildcards.split} --experiment {wildcards.exp}"
        " --supervision {params.supervision:q} --method={params.method:q} --out {output} 2> {log}"


rule summary:
    input:
        [m for exp in EXPERIMENTS for m in evaluated(exp)],
    output:
        md=report(f"{R}/summary.md", caption="../report/summary.rst", category="Summary", labels={"table": "markdown"}),
        csv=report(f"{R}/summary.csv", caption="../report/summary.rst", category="Summary", labels={"table": "CSV, per class"}),
    log:
        f"{R}/logs/summary.log",
    conda:
        ENV
    shell:
        "python -m weakseg summary --metrics {input} --out-md {output.md} --out-csv {output.csv} 2> {log}"
