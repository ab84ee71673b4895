"""The stages that decide (the validator, the deadline engine, the grant keeper, the notary) and
what they keep; the pure rules they call are in processors/rules/ (no I/O, no clock)."""
