"""Benchmarks: filled in by the metrics and benchmarks issue."""

print("no benchmarks yet")
