"""Simulators of a shop platform, a supplier and a courier, served as real HTTP servers
for the demo, the end-to-end tests and the benchmarks. Imports nothing of ``hub``."""
