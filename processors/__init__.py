"""The stages that decide (validator, deadline engine, grant keeper, notary) and the pure rule
modules they call (no I/O, no clock)."""
