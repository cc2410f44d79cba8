"""Benchmarks of the gallery (not part of the tests): ``python -m bench`` prints and saves figures."""
