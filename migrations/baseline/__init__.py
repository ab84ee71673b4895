"""The tables as the previous release (a9b27a3) created them, frozen for the baseline revisions."""
