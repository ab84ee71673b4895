"""A real browser for the dashboard's tests: Debian's chromium driven by Playwright (its own
browser download is never used), and how a supervisor signs in."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# The flags Debian's chromium needs to run headless as root in a container, offline.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).parent / "artifacts" / "screenshots"


def token(service, department: str, scope: str) -> str:
    """An API token, issued as an operator does (`govshare api-token issue`)."""
    done = subprocess.run([sys.executable, "-m", "infra.cli", "api-token", "issue", "--department", department,
                           "--scope", scope], env=service.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def sign_in(page, url: str, given: str) -> None:
    """As a supervisor does: the dashboard asks for a token, once."""
    page.goto(f"{url}/")
    assert page.locator("form input[name=token]").count() == 1, "the sign-in form"
    page.fill("input[name=token]", given)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
