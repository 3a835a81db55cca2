"""Scan restic backups for the attack before restoring them (issue 18).

restic.py reads a repository (snapshots, listings, bounded dumps); tree.py says what a
snapshot's paths mean; content.py reads each distinct file once across snapshots;
analysis.py turns one snapshot into findings; selection.py gives verdicts and the last
clean snapshot; locate.py finds a host's repository in the inventory; scan.py ties them.
"""
