"""Integrity: the check catalog, baselines and evidence collection."""
