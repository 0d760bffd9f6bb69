# Stage one: a weakly supervised network (one job), then its pseudo labels (one job per scene).


rule stage1_train:
    input:
        scenes=scene_files("train"),
        weak=lambda w: weak_files(w.exp, "train"),
    output:
        f"{R}/{{exp}}/stage1/model.pt",
    params:
        settings=lambda w: as_json(stage1_settings(w.exp)),
        classes=CLASSES,
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/{{exp}}/stage1_train.log",
    conda:
        ENV
    shell:
        "python -m weakseg stage1-train --settings {params.settings:q} --classes {params.classes:q}"
        " --threads {threads} --scenes {input.scenes} --weak {input.weak} --out {output} 2> {log}"


rule stage1_pseudo:
    input:
        model=f"{R}/{{exp}}/stage1/model.pt",
        scene=f"{R}/scenes/{{scene}}.h5",
        weak=lambda w: f"{R}/{w.exp}/weak/{w.scene}.json",
    output:
        directory(f"{R}/{{exp}}/stage1/pseudo.zarr/{{scene}}"),
    params:
        settings=lambda w: as_json(stage1_settings(w.exp)),
        classes=CLASSES,
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/{{exp}}/stage1_pseudo/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg stage1-pseudo --settings {params.settings:q} --classes {params.classes:q}"
        " --model {input.model} --scene {input.scene} --weak {input.weak} --out {output} 2> {log}"
