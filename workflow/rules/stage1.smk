# Stage one, round by round: a weakly supervised network (one job), its pseudo labels (one job per
# scene) and, for methods that segment a scene on their own, its predictions on the validation
# split (one job, last round). Round r > 1 learns from round r-1's refined labels (refine.smk);
# each job also gets the per-scene inputs its method declares it needs (method_inputs).


rule stage1_train:
    input:
        unpack(lambda w: method_inputs(w.exp, w.round, SCENES["train"])),
        unpack(lambda w: warm_start_model(w.exp, w.round)),
        scenes=scene_files("train"),
        weak=lambda w: weak_files(w.exp, "train"),
    output:
        f"{R}/{{exp}}/stage1/round{{round}}/model.pt",
    params:
        settings=lambda w: as_json(stage1_settings(w.exp, w.round)),
        classes=CLASSES,
        # the warm start's model rides with the needs: a round without one keeps its params as they were
        needs=lambda w: need_args({**method_inputs(w.exp, w.round, SCENES["train"]), **warm_start_model(w.exp, w.round)}),
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/{{exp}}/round{{round}}/stage1_train.log",
    conda:
        ENV
    shell:
        "python -m weakseg stage1-train --settings {params.settings:q} --classes {params.classes:q}"
        " --threads {threads} --scenes {input.scenes} --weak {input.weak} {params.needs} --out {output} 2> {log}"


rule stage1_pseudo:
    input:
        unpack(lambda w: method_inputs(w.exp, w.round, [w.scene], training=False)),
        model=f"{R}/{{exp}}/stage1/round{{round}}/model.pt",
        scene=f"{R}/scenes/{{scene}}.h5",
        weak=lambda w: f"{R}/{w.exp}/weak/{w.scene}.json",
    output:
        directory(f"{R}/{{exp}}/stage1/round{{round}}/pseudo.zarr/{{scene}}"),
    params:
        settings=lambda w: as_json(stage1_settings(w.exp, w.round)),
        classes=CLASSES,
        needs=lambda w: need_args(method_inputs(w.exp, w.round, [w.scene], training=False)),
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/{{exp}}/round{{round}}/stage1_pseudo/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg stage1-pseudo --settings {params.settings:q} --classes {params.classes:q}"
        " --model {input.model} --scene {input.scene} --weak {input.weak} {params.needs} --out {output} 2> {log}"


rule stage1_predict:
    # One job for all scenes, as stage two's predictions (stage2.smk).
    input:
        model=f"{R}/{{exp}}/stage1/round{{round}}/model.pt",
        scenes=scene_files("val"),
    output:
        directory(f"{R}/{{exp}}/stage1/round{{round}}/pred.zarr"),
    params:
        settings=lambda w: as_json(stage1_settings(w.exp, w.round)),
        classes=CLASSES,
    threads: TRAIN_THREADS
    log:
        f"{R}/logs/{{exp}}/round{{round}}/stage1_predict.log",
    conda:
        ENV
    shell:
        "python -m weakseg stage1-predict --settings {params.settings:q} --classes {params.classes:q}"
        " --threads {threads} --model {input.model} --scenes {input.scenes} --out {output} 2> {log}"
