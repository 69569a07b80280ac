"""Benchmarks with their baselines; ``make bench`` runs them all."""
