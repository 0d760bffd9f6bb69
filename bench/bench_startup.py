"""What a one-scene job pays before it does any work: loading its libraries in a fresh interpreter.

Each case runs `--repeats` times in a new Python process (as Snakemake runs a job); the table
gives the median wall time and the ratio to the anchor measured in the same run, a plain
`import spconv.pytorch` (what weakseg's jobs did before `weakseg.models.spconv_import`).

    .venv/bin/python bench/bench_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "import torch (the floor of any network job)": "import torch",
    "import spconv.pytorch, plain (anchor)": "import warnings; warnings.simplefilter('ignore'); import spconv.pytorch",
    "import weakseg.models.sparse, kernel facts cached": "import weakseg.models.sparse",
    "import open3d": "import open3d",
    "import weakseg.preprocess (geometry job)": "import weakseg.preprocess",
    "import weakseg.refine + crf (refine job)": "import weakseg.refine.crf, weakseg.refine.supervoxels, weakseg.io",
}
ANCHOR = "import spconv.pytorch, plain (anchor)"


def seconds(code, env):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "WEAKSEG_CACHE": cache}
        seconds("import weakseg.models.sparse", env)  # records the kernel facts once, as a run's first job does
        times = {name: [] for name in CASES}
        for _ in range(args.repeats):  # interleaved, so that load changes hit every case alike
            for name, code in CASES.items():
                times[name].append(seconds(code, env))
    anchor = statistics.median(times[ANCHOR])
    print(f"| case | median of {args.repeats} | ratio to anchor |")
    print("|---|---|---|")
    for name, t in times.items():
        median = statistics.median(t)
        print(f"| {name} | {median:.2f} s | {median / anchor:.2f} |")
    print(f"\nload average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
