"""Measure: what a committed run earned against its control groups (after the run, from orders)."""
