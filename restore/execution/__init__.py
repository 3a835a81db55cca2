"""Executes a plan: engine, gates, run state (the one journal fold), journal, steps."""
