# Per-scene geometry computed once and cached (weakseg.preprocess): supervoxels, their graph and
# PFH for every scene; point-pixel projections for the scenes that have RGB-D frames. Refiners
# that declare `needs=("geometry",)` depend on the first (refine.smk); `preprocess` builds both.


rule geometry:
    input:
        f"{R}/scenes/{{scene}}.h5",
    output:
        f"{R}/pre/geometry/{{scene}}.h5",
    params:
        settings=as_json(config.get("preprocess", {}).get("geometry", {})),
    priority: WEAK_CHAIN_PRIORITY
    log:
        f"{R}/logs/pre/geometry/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg geometry --settings {params.settings:q} --scene {input:q} --out {output:q} 2> {log:q}"


rule projections:
    input:
        f"{R}/scenes/{{scene}}.h5",
    output:
        f"{R}/pre/projections/{{scene}}.h5",
    params:
        settings=as_json(config.get("preprocess", {}).get("projections", {})),
    log:
        f"{R}/logs/pre/projections/{{scene}}.log",
    conda:
        ENV
    shell:
        "python -m weakseg projections --settings {params.settings:q} --scene {input:q} --out {output:q} 2> {log:q}"


rule preprocess:
    # `snakemake --cores all preprocess`: every scene's caches ahead of time
    input:
        expand(f"{R}/pre/geometry/{{scene}}.h5", scene=sorted(SCENE_INFO)),
        expand(f"{R}/pre/projections/{{scene}}.h5", scene=sorted(s for s, info in SCENE_INFO.items() if info["frames"])),
