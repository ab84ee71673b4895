"""The documentation holds: the README stays a newcomer's page, every relative link in it and
in docs/ leads somewhere (to the heading it names, where it names one), docs/rules.md is what
the policy files say, and docs/domain.md is the shared domain brief."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SHARED_DOMAIN = Path("/work/shared/DOMAIN.md")  # the project's shared brief, where this machine has it
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
CODE_SPAN = re.compile(r"(`+).*?\1")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _prose(path: Path) -> list[tuple[int, str]]:
    """The page's lines outside fenced code blocks, with their numbers."""
    found, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            found.append((number, line))
    return found


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: the text of the heading (links and code marks
    dropped), lower case, without punctuation, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose(path):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """Every link target on the page, outside code."""
    found = []
    for number, line in _prose(path):
        bare = CODE_SPAN.sub("", line)
        found += [(number, target) for target in INLINE_LINK.findall(bare)]
        ref = REFERENCE_LINK.match(bare)
        if ref:
            found.append((number, ref.group(1)))
    return found


def _relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("//")


def test_the_readme_is_a_newcomers_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; it keeps under {README_MAX_LINES}: move the rest to docs/")


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_its_heading(page):
    broken = []
    for number, target in links(page):
        if not _relative(target):
            continue
        file_part, _, anchor = target.partition("#")
        found = (page.parent / file_part).resolve() if file_part else page
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if not found.exists():
            broken.append(f"{where}: no file {found}")
        elif anchor and found.is_file() and found.suffix == ".md" and anchor not in anchors(found):
            broken.append(f"{where}: no heading #{anchor} in {found.name}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_rules_page_is_what_the_policy_files_say():
    done = subprocess.run([sys.executable, "-m", "infra.rulesdoc", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr or done.stdout


def test_the_domain_page_is_the_shared_domain_brief():
    page = DOCS / "domain.md"
    assert page.exists(), "docs/domain.md: a copy of the shared DOMAIN.md, with a first line saying so"
    if not SHARED_DOMAIN.exists():
        pytest.skip(f"{SHARED_DOMAIN} is not on this machine: nothing to compare docs/domain.md with")
    copied = page.read_text(encoding="utf-8").split("\n", 1)
    assert len(copied) == 2 and "DOMAIN.md" in copied[0], "docs/domain.md's first line says where it comes from"
    assert copied[1] == SHARED_DOMAIN.read_text(encoding="utf-8"), \
        f"docs/domain.md differs from {SHARED_DOMAIN}: copy it again"


def test_the_link_checker_knows_a_broken_anchor_from_a_good_one(tmp_path):
    """The checker itself: a heading's anchor as GitHub makes it, fenced code ignored."""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Upgrading: `govshare migrate`\n\n```\n# not a heading\n[x](nowhere.md)\n```\n"
                    "## 今日待办 (Today)\n## Title\n", encoding="utf-8")
    assert anchors(page) == {"title", "upgrading-govshare-migrate", "今日待办-today", "title-1"}
    assert links(page) == []


def test_the_integrators_table_lists_every_event_a_department_sends_with_its_roles():
    from events.registry import all_kinds
    rows = {}
    for line in (ROOT / "docs" / "integrators.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| .* \(`([a-z-]+)`\) \| (.*) \|$", line)
        if found:
            rows[found.group(1)] = found.group(2)
    for kind in all_kinds():
        if not kind.senders:
            continue
        row = rows.get(kind.aggregate_type, "")
        part = next((p for p in row.split("; ") if f"`{kind.event_type}`" in p), None)
        assert part is not None, f"{kind.event_type} is not in the row of {kind.aggregate_type}"
        roles = re.search(r"\(([A-Z_ or]+)\)$", part).group(1).split(" or ")
        assert sorted(roles) == sorted(r.value for r in kind.senders), kind.event_type
