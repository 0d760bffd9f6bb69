# Pictures of the results: plots of the summary, coloured PLYs of the scenes of `export.scenes`
# and their palette. Every output is registered for `snakemake --report report.html`, with its
# caption from workflow/report/.

import mimetypes

# The report embeds the exports; Python's mimetypes does not know PLY and would call it text.
mimetypes.add_type("application/octet-stream", ".ply")

# Seconds of work each: with a cluster executor they run in the main Snakemake process, as the
# evaluations and the summary do (evaluate.smk).
localrules:
    plots,
    legend,
    export,


rule plots:
    input:
        summary=f"{R}/summary.csv",
        metrics=[m for exp in EXPERIMENTS for m in evaluated(exp)],
    output:
        figure("miou_vs_cost", "miou_vs_cost", "Across experiments", figure="mIoU against annotation cost"),
        figure("per_class_iou", "per_class_iou", "Across experiments", figure="per-class IoU"),
        figure("rounds", "rounds", "Across experiments", figure="self-training rounds"),
        [figure(f"confusion_{exp}", "confusion", "Confusion matrices", experiment=exp) for exp in EXPERIMENTS],
    params:
        out=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{R}/logs/plots.log",
    conda:
        ENV
    shell:
        "python -m weakseg plots --summary {input.summary:q} --metrics {input.metrics} --out-dir {params.out:q} 2> {log:q}"


rule legend:
    output:
        report(f"{R}/export/legend.png", caption="../report/legend.rst", category="Exports", subcategory="Palette"),
    params:
        classes=CLASSES,
    log:
        f"{R}/logs/export/legend.log",
    conda:
        ENV
    shell:
        "python -m weakseg legend --classes {params.classes:q} --out {output:q} 2> {log:q}"


rule export:
    input:
        scene=f"{R}/scenes/{{scene}}.h5",
        labels=lambda w: sorted({needed for needed, _ in export_labels(w.exp, w.scene).values()}),
    output:
        report(directory(f"{R}/export/{{exp}}/{{scene}}"), patterns=["{name}.ply"], caption="../report/exports.rst",
               category="Exports", subcategory="{exp}", labels={"scene": "{scene}", "points coloured by": "{name}"}),
    params:
        labels=lambda w: " ".join(shlex.quote(f"{name}={group}") for name, (_, group) in export_labels(w.exp, w.scene).items()),
        final=lambda w: list(export_labels(w.exp, w.scene))[-1],
    log:
        f"{R}/logs/export/{{exp}}/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg export --scene {input.scene:q} --labels {params.labels} --final {params.final:q}"
        " --out {output:q} 2> {log:q}"
