# Refinement: the experiment's refiners, in order, on one scene's pseudo labels of one round (plus
# the scene's geometry when a refiner declares it needs it: pre_files in common.smk). The next
# round, or stage two after the last, learns from these.


rule refine:
    input:
        unpack(lambda w: pre_files(w.exp, w.scene)),
        labels=f"{R}/{{exp}}/stage1/round{{round}}/pseudo.zarr/{{scene}}",
        scene=f"{R}/scenes/{{scene}}.h5",
        weak=lambda w: f"{R}/{w.exp}/weak/{w.scene}.json",
    output:
        directory(f"{R}/{{exp}}/refined/round{{round}}/pseudo.zarr/{{scene}}"),
    params:
        settings=lambda w: as_json({"method": EXPERIMENTS[w.exp]["stage1"]["method"], "refiners": EXPERIMENTS[w.exp]["refiners"]}),
        pre=lambda w: " ".join(f"--{need} {shlex.quote(path)}" for need, path in pre_files(w.exp, w.scene).items()),
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/{{exp}}/round{{round}}/refine/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg refine --settings {params.settings:q} --scene {input.scene} --weak {input.weak}"
        " --labels {input.labels} {params.pre} --out {output} 2> {log}"
