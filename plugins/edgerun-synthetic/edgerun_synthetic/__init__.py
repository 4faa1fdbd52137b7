"""Synthetic readings for tests, benchmarks and demos."""
