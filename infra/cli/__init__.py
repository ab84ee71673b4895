"""The govshare command, its commands grouped by the people they serve: operators (up, run,
migrate, health, parked messages, keys, tokens), integrating systems (submit, sign, simulate,
contract), supervisors (query) and auditors (trail, export, verify, proofs, replay)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra import output
from infra.config import Settings, SettingsError
from infra.environment import SettingError

def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        from infra import logs  # structlog: not needed to import this module
        logs.configure(settings.log_level, settings.log_format)
        return args.handler(args, settings) or 0
    except (SettingError, SettingsError) as exc:
        # A mistyped setting is the operator's to fix: one line naming it, not a traceback
        # (some, as GOVSHARE_PROCESSES, are read only by the command that uses them).
        print(f"govshare: {output.printable(str(exc))}", file=sys.stderr)
        return 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("govshare")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _home_line() -> str:
    """Where the commands look for the service: said in --help, before anyone wonders."""
    from infra.config import default_home, home_origin
    from infra.environment import raw
    home = Path(raw("GOVSHARE_HOME") or default_home()[0]).absolute()
    return (f"The service's home (its databases, keys and broker.json): {home} ({home_origin()}; "
            "GOVSHARE_HOME sets another). Times are shown with their zone: each row's jurisdiction's, "
            "or UTC with --utc; a time given on the command line must carry its zone.")


def _parser() -> argparse.ArgumentParser:
    # Imported here, not above: a command's options come from the System and the views, which
    # `import infra.cli` alone need not load.
    from infra.cli import auditor, integrator, operator, supervisor

    parser = argparse.ArgumentParser(prog="govshare", description=__doc__, epilog=_home_line())
    parser.add_argument("--version", action="version", version=f"govshare {_version()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for user in (operator, integrator, supervisor, auditor):
        user.register(sub)
    return parser
