"""Benchmarks: speed, time to target and memory of every family, beside peer libraries."""
