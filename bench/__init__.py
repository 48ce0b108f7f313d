"""Benchmarks: `make bench` (python -m bench) prints the figures as ratios measured side by side."""
