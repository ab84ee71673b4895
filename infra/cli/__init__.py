"""The govshare command, its commands grouped by the people they serve: operators (up, run,
migrate, health, parked messages, keys, tokens), integrating systems (submit, sign, simulate,
contract), supervisors (query) and auditors (trail, export, verify, proofs, replay)."""
from __future__ import annotations

import argparse
import sys

from infra import output
from infra.config import Settings, SettingsError
from infra.environment import SettingError

def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except (SettingError, SettingsError) as exc:
        # A mistyped setting is the operator's to fix: one line naming it, not a traceback.
        print(f"govshare: {output.printable(str(exc))}", file=sys.stderr)
        return 2
    from infra import logs  # structlog: not needed to import this module
    logs.configure(settings.log_level, settings.log_format)
    return args.handler(args, settings) or 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("govshare")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    # Imported here, not above: a command's options come from the System and the views, which
    # `import infra.cli` alone need not load.
    from infra.cli import auditor, integrator, operator, supervisor

    parser = argparse.ArgumentParser(prog="govshare", description=__doc__)
    parser.add_argument("--version", action="version", version=f"govshare {_version()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for user in (operator, integrator, supervisor, auditor):
        user.register(sub)
    return parser
