"""Benchmarks: each script prints a table of ratios measured against a baseline in the same run."""
