"""Stream processors: faust wiring (thin) and pure policy modules (no faust, no clock, no I/O)."""
