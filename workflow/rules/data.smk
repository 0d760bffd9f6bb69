# Scenes (HDF5) and the weak labels an annotator would give for them.


rule synth_scene:
    output:
        f"{R}/scenes/{{scene}}.h5",
    params:
        settings=lambda w: as_json({**PLAN[w.scene], **DATASET["scan"]}),
    log:
        f"{R}/logs/scenes/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg synth-scene --scene {wildcards.scene} --settings {params.settings:q} --out {output} 2> {log}"


rule weak_labels:
    input:
        f"{R}/scenes/{{scene}}.h5",
    output:
        f"{R}/weak/{{supervision}}/{{scene}}.json",
    log:
        f"{R}/logs/weak/{{supervision}}/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg weak-labels --scene {input} --kind {wildcards.supervision} --out {output} 2> {log}"
