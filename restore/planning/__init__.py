"""Pure planning: graph + inventory + options -> RestorePlan. No I/O beyond the cache."""
