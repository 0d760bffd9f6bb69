"""spconv imported with cached kernel facts describes exactly the kernels a plain import does.

Each case runs in a fresh interpreter: spconv builds its kernel descriptors once per process.
"""

import json
import os
import subprocess
import sys
import textwrap

import cumm
import pytest
import spconv

from weakseg.models.spconv_import import CHECKED_VERSIONS

# Imports spconv through weakseg and prints every kernel descriptor spconv built (all readable
# attributes and its name) and how many kernels were generated rather than taken from the cache.
PROBE = textwrap.dedent("""
    import json, sys
    import spconv, cumm
    import spconv.algocore as core
    from weakseg.models import spconv_import

    spconv_import.CHECKED_VERSIONS.add((spconv.__version__, cumm.__version__))
    described, generated = [], [0]

    def describing(make):
        def wrapper(params):
            d = make(params)
            described.append({"name": str(d), **{a: str(getattr(d, a)) for a in dir(d)
                              if not a.startswith("_") and not callable(getattr(d, a))}})
            return d
        return wrapper

    def counting(gen):
        def wrapper(*args, **kwargs):
            generated[0] += 1
            return gen(*args, **kwargs)
        return wrapper

    core.get_gemm_algo_desp_from_param = describing(core.get_gemm_algo_desp_from_param)
    core.get_conv_algo_desp_from_param = describing(core.get_conv_algo_desp_from_param)
    core.gen_gemm_kernels = counting(core.gen_gemm_kernels)
    core.gen_conv_kernels = counting(core.gen_conv_kernels)
    spconv_import.import_spconv()
    print(json.dumps({"descriptors": described, "generated": generated[0]}))
""")


def probe(cache):
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, "WEAKSEG_CACHE": str(cache)})
    return json.loads(out.stdout.splitlines()[-1])


def cache_file(cache):
    return cache / f"spconv-{spconv.__version__}-cumm-{cumm.__version__}-kernels.json"


def test_cached_import_builds_the_same_descriptors_without_generating_kernels(tmp_path):
    first = probe(tmp_path)  # empty cache: spconv generates every kernel, weakseg records facts
    assert first["generated"] == len(first["descriptors"]) > 1000
    assert cache_file(tmp_path).exists()
    second = probe(tmp_path)
    assert second["generated"] == 0
    assert second["descriptors"] == first["descriptors"]


@pytest.mark.parametrize("content", ["{not json", '{"0123abcd": [1, 2]}', "[]"])
def test_a_corrupt_cache_is_recorded_afresh(tmp_path, content):
    cache_file(tmp_path).write_text(content)
    result = probe(tmp_path)
    assert result["generated"] == len(result["descriptors"])
    assert len(json.loads(cache_file(tmp_path).read_text())) > 500


def test_an_unwritable_cache_only_costs_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = probe(blocker / "cache")  # a directory under a file: cannot be made
    assert result["generated"] == len(result["descriptors"])
    assert list(tmp_path.iterdir()) == [blocker]


def test_the_installed_spconv_is_one_the_descriptor_test_covers():
    # A new pin must pass the tests above before it joins CHECKED_VERSIONS; until then it is
    # imported plainly, correct but 3-4 s slower per process.
    assert (spconv.__version__, cumm.__version__) in CHECKED_VERSIONS
