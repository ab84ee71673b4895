"""Progress of a long command (rebuild, replay, verify, an OCSF export) on standard error: a
line each time another N records are done and one when it ends. A trail or a log can hold
millions of records; standard output stays the command's result, for the scripts reading it."""
from __future__ import annotations

import sys
from typing import TextIO

EVERY = 10_000


class Progress:
    def __init__(self, verb: str, every: int = EVERY, stream: TextIO | None = None):
        self.verb, self.every, self.stream = verb, every, stream or sys.stderr
        self.count = 0

    def __call__(self, count: int) -> None:
        """`count` records done so far; callers that work in batches report once a batch, and
        a line is written whenever the count passes another multiple of `every`."""
        if count // self.every > self.count // self.every:
            print(f"govshare: {count} records {self.verb}", file=self.stream, flush=True)
        self.count = count

    def done(self, count: int | None = None) -> None:
        print(f"govshare: {self.count if count is None else count} records {self.verb}, done",
              file=self.stream, flush=True)
