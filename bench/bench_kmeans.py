"""K-means for Densify's primitives: scikit-learn (what weakseg uses) against faiss.

Densify clusters every training scene's supervoxel features into K primitives every few epochs
(during the warm-up with mean colour and PFH appended). This times both libraries on that
problem, one thread (the method runs scikit-learn on one thread: a resumed run must cluster
bit-identically), k-means++ seeding for scikit-learn, faiss's own random seeding, 100 iterations
at most, on features shaped as weakseg's: supervoxels x (32 features [+ 3 colour + 125 PFH]).
scikit-learn is the anchor; faiss is an optional, bench-only install.

    .venv/bin/pip install faiss-cpu     # not a weakseg dependency
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_kmeans.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


def problem(rows, dims, seed=0):
    """Clustered features: 20 'classes' of 8 sub-modes each, plus noise (float32)."""
    rng = np.random.default_rng(seed)
    modes = rng.normal(0, 1, (160, dims))
    x = modes[rng.integers(0, 160, rows)] + rng.normal(0, 0.3, (rows, dims))
    return x.astype(np.float32)


def inertia(x, centroids):
    """Sum of squared distances to the nearest centroid (in chunks of rows)."""
    x, c = x.astype(np.float64), np.asarray(centroids, np.float64)
    total = 0.0
    for s in range(0, len(x), 10_000):
        d = (x[s:s + 10_000] ** 2).sum(1)[:, None] - 2 * x[s:s + 10_000] @ c.T + (c ** 2).sum(1)[None]
        total += float(np.maximum(d.min(1), 0).sum())
    return total


def run_sklearn(x, k, seed):
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100).fit(x)
    return km.cluster_centers_


def run_faiss(x, k, seed, redo=1):
    import faiss

    faiss.omp_set_num_threads(1)
    # every row (faiss subsamples to 256 per centroid by default; scikit-learn uses all)
    km = faiss.Kmeans(x.shape[1], k, niter=100, seed=seed, nredo=redo, verbose=False, max_points_per_centroid=len(x))
    km.train(x)
    return km.centroids


def run_faiss_best_of_5(x, k, seed):
    return run_faiss(x, k, seed, redo=5)


def timed(fn, x, k, repeats):
    times, out = [], None
    for r in range(repeats):
        t0 = time.perf_counter()
        out = fn(x, k, r)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    try:
        import faiss  # noqa: F401
        libraries = {"scikit-learn": run_sklearn, "faiss": run_faiss, "faiss, best of 5 seedings": run_faiss_best_of_5}
    except ImportError:
        print("faiss is not installed: scikit-learn alone")
        libraries = {"scikit-learn": run_sklearn}
    print("| supervoxels | dims | K | library | median time | vs scikit-learn | inertia vs scikit-learn |")
    print("|---|---|---|---|---|---|---|")
    for rows, dims, k in [(10_000, 32, 100), (10_000, 160, 100), (100_000, 32, 300)]:
        x = problem(rows, dims)
        anchor, anchor_inertia = None, None
        for name, fn in libraries.items():
            t, centroids = timed(fn, x, k, args.repeats)
            quality = inertia(x, np.asarray(centroids))
            if anchor is None:
                anchor, anchor_inertia = t, quality
            print(f"| {rows} | {dims} | {k} | {name} | {t:.3f} s | {t / anchor:.2f}x | {quality / anchor_inertia:.3f} |")


if __name__ == "__main__":
    main()
