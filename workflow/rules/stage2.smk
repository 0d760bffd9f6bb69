# Stage two: dense retraining on the refined pseudo labels (or, for `supervision: full`, on the
# ground truth: the upper bound), then predictions for every scene (one Zarr store).


rule stage2_train:
    input:
        scenes=scene_files("train"),
        labels=stage2_labels,
    output:
        f"{R}/{{exp}}/stage2/model.pt",
    params:
        settings=lambda w: as_json(stage2_settings(w.exp)),
        classes=CLASSES,
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
    log:
        f"{R}/logs/{{exp}}/stage2_train.log",
    conda:
        ENV
    shell:
        "python -m weakseg stage2-train --settings {params.settings:q} --classes {params.classes:q}"
        " --threads {threads} --scenes {input.scenes} --labels {input.labels} --out {output} 2> {log}"


rule predict:
    # One job for all scenes: loading spconv alone costs seconds, more than predicting a scene.
    input:
        model=f"{R}/{{exp}}/stage2/model.pt",
        scenes=scene_files("train") + scene_files("val"),
    output:
        directory(f"{R}/{{exp}}/stage2/pred.zarr"),
    params:
        settings=lambda w: as_json(stage2_settings(w.exp)),
        classes=CLASSES,
    threads: TRAIN_THREADS
    log:
        f"{R}/logs/{{exp}}/predict.log",
    conda:
        ENV
    shell:
        "python -m weakseg predict --settings {params.settings:q} --classes {params.classes:q}"
        " --threads {threads} --model {input.model} --scenes {input.scenes} --out {output} 2> {log}"
