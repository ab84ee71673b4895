"""One file per revision; each branch (runtime, processors, projections) starts at its baseline."""
