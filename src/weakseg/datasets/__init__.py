"""Datasets: readers for real scans and the embedded synthetic generator, all yielding `io.Scene`."""
