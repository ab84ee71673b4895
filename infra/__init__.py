"""Composition root: broker launcher, topics, database set-up, service wiring and the CLI."""
