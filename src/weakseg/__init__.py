"""weakseg: dense 3D semantic segmentation from cheap labels, as one Snakemake DAG."""

__version__ = "0.1.0"
