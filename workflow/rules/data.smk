# Scenes (HDF5, converted from the dataset or generated) and the weak labels an annotator gives.


rule scene:
    input:
        lambda w: SCENE_INFO[w.scene]["sources"],
    output:
        f"{R}/scenes/{{scene}}.h5",
    params:
        settings=as_json(SCENE_SETTINGS),
    log:
        f"{R}/logs/scenes/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg scene --settings {params.settings:q} --scene {wildcards.scene:q} --out {output:q} 2> {log:q}"


rule weak_labels:
    input:
        f"{R}/scenes/{{scene}}.h5",
    output:
        f"{R}/{{exp}}/weak/{{scene}}.json",
    params:
        settings=lambda w: as_json(weak_settings(w.exp, w.scene)),
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/{{exp}}/weak/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg weak-labels --settings {params.settings:q} --scene {input:q} --out {output:q} 2> {log:q}"
