"""Import spconv in a third of a second instead of four.

On import, `spconv.algo` describes every CUDA kernel spconv ships (728 parameter sets, each
described twice) by generating the kernel in Python with cumm/pccm: 3.5-4.5 s per process, on
CPU-only runs too, with no switch to skip it. The default DAG starts 69 processes that import
spconv (64 of them one-scene pseudo-label jobs whose own work takes well under a second): about
250 s of the run's 1550 s of CPU.

A descriptor needs six facts from its generated kernel (elements per access of A, B and C, the
minimum architecture, and two conv flags); they are a pure function of the kernel's parameters.
The first import records them per parameter set in a cache file named by the spconv and cumm
versions; later imports hand spconv those facts instead of generating the kernels. The
descriptors come out identical (tests/test_spconv_import.py compares all 1456). Nothing here
changes what spconv computes, and other spconv versions are imported plainly.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

log = logging.getLogger(__name__)

# (spconv, cumm) versions whose descriptors tests/test_spconv_import.py found identical with the
# cache and without; any other pair is imported plainly. Add a pair only after that test passes.
CHECKED_VERSIONS = {("2.3.6", "0.4.11")}


def cache_dir() -> Path:
    """Where the kernel facts live: $WEAKSEG_CACHE, else $XDG_CACHE_HOME/weakseg, else ~/.cache/weakseg."""
    if os.environ.get("WEAKSEG_CACHE"):
        return Path(os.environ["WEAKSEG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "weakseg"


def _describe(obj) -> str:
    """A kernel parameter set as text: every attribute, recursively (params hold enums, dtypes,
    layouts and tile shapes; none holds an address or anything else that varies per process)."""
    if isinstance(obj, enum.Enum):
        return str(obj)
    if hasattr(obj, "__dict__"):
        return type(obj).__name__ + "{" + ",".join(f"{k}:{_describe(v)}" for k, v in sorted(vars(obj).items())) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(map(_describe, obj)) + "]"
    return repr(obj)


def _key(params) -> str:
    return hashlib.sha1(_describe(params).encode()).hexdigest()


def _facts(kernel, conv):
    spec = kernel.input_spec
    facts = [spec.input_iter_a.element_per_acc, spec.input_iter_b.element_per_acc,
             kernel.output_spec.out_iter.element_per_acc, list(kernel.min_arch())]
    return facts + [bool(kernel.int8_inference), bool(kernel.dynamic_mask)] if conv else facts


def _stand_in(facts):
    """An object with just the parts of a generated kernel that `spconv.algocore` reads."""
    a, b, c, arch, *flags = facts
    return SimpleNamespace(
        input_spec=SimpleNamespace(input_iter_a=SimpleNamespace(element_per_acc=a),
                                   input_iter_b=SimpleNamespace(element_per_acc=b)),
        output_spec=SimpleNamespace(out_iter=SimpleNamespace(element_per_acc=c)),
        min_arch=lambda: tuple(arch),
        int8_inference=flags[0] if flags else False,
        dynamic_mask=flags[1] if flags else False,
    )


def _read(path):
    """The recorded facts; none (so: record afresh) if the file is missing, unreadable or not ours."""
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    well_formed = isinstance(facts, dict) and all(
        isinstance(v, list) and len(v) in (4, 6) and isinstance(v[3], list) for v in facts.values())
    return facts if well_formed else {}


def _write(path, facts):
    """Atomically (temporary name, then rename); a cache we cannot write only costs time."""
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(facts, sort_keys=True))
        os.replace(tmp, path)
    except OSError as err:
        log.debug("spconv kernel facts not cached at %s: %s", path, err)
        with contextlib.suppress(OSError):
            tmp.unlink()


def _plain_import():
    with warnings.catch_warnings():  # spconv 2.3.6 uses torch.cuda.amp decorators torch now deprecates
        warnings.simplefilter("ignore", FutureWarning)
        import spconv.pytorch

    return spconv.pytorch


def import_spconv():
    """`spconv.pytorch`, imported with the kernel facts cached (see the module's docstring)."""
    if "spconv.pytorch" in sys.modules:
        return sys.modules["spconv.pytorch"]
    import cumm
    import spconv
    import spconv.algocore as core

    if (spconv.__version__, cumm.__version__) not in CHECKED_VERSIONS:
        return _plain_import()
    path = cache_dir() / f"spconv-{spconv.__version__}-cumm-{cumm.__version__}-kernels.json"
    known = _read(path)
    recorded = {}
    generate = {False: core.gen_gemm_kernels, True: core.gen_conv_kernels}

    def cached(conv):
        def kernel(params, *args, **kwargs):
            key = _key(params)
            if key in known:
                return _stand_in(known[key])
            generated = generate[conv](params, *args, **kwargs)
            recorded[key] = _facts(generated, conv)
            return generated

        return kernel

    core.gen_gemm_kernels, core.gen_conv_kernels = cached(False), cached(True)
    try:
        module = _plain_import()
    finally:
        core.gen_gemm_kernels, core.gen_conv_kernels = generate[False], generate[True]
    if recorded:
        _write(path, {**known, **recorded})
    return module
