"""An article is a citation, as a supervisor reads it on a Chinese page: the text's short name
and article number(s), with the text's own words in parentheses. Why govshare applies a rule,
and that a number is the deployment's choice, is said in its `note`, never in the article.

And an article cites the subject's own jurisdiction: every rule, limit and scorecard item a
profile has (its own or inherited from common.toml) cites only that profile's text or a
national one (State Council 2016), or is exactly "govshare platform rule" (integrity, or a
deployment's choice where the text is silent, with the explanation in its note). common.toml,
the baseline for a department outside any jurisdiction, cites only national texts.

Every profile file is checked, not only those policies/departments.toml uses, through the
loaders (processors/profiles.py, policies/scorecard.py): what a rejection or a deadline cites.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies.scorecard import formula
from processors.profiles import NOT_PROFILES, POLICY_DIR, load_policy

PLATFORM = "govshare platform rule"
NATIONAL = ("State Council 2016",)
# The text each profile's own articles cite, by the short name its articles use. A new profile
# names its text here: until then every article of it fails.
OWN_TEXT = {
    "common": None,  # the baseline: national texts and platform rules only
    "state-council-2016": "State Council 2016",
    "guangdong-2018": "GD-2018",
    "guangdong-2008": "GD-2008",
    "hebei-2023": "Hebei Measures",
    "ningbo-haishu-2021": "Ningbo",
    "guangxi": "Guangxi",
}
TEXTS = ("State Council 2016", "GD-2018", "GD-2008", "Hebei Measures", "Ningbo", "Guangxi")

# The citation grammar: whitelisted tokens only. A text's short name, then its own words in
# parentheses (Chinese: no Latin letter, at least one CJK character) and/or its articles
# ("Art. 16", "Arts. 17-18", "Art. 20, 34", "Art. 40(3)"), each article optionally with its
# words; several articles of one text joined by ", ", several texts by "; ".
_TEXT = "(?:" + "|".join(re.escape(t) for t in TEXTS) + ")"
_NUMBER = r"\d+(?:\(\d+\))?(?:-\d+)?"
_WORDS = r"\((?=[^()]*[\u3400-\u9fff])[^()A-Za-z]+\)"
_REF = rf"Arts?\. {_NUMBER}(?:, {_NUMBER})*(?: {_WORDS})?"
_CITE = rf"{_TEXT}(?: {_WORDS})?(?: {_REF}(?:, {_REF})*)?"
CITATION = re.compile(rf"{_CITE}(?:; {_CITE})*")
CITED = re.compile(_TEXT)


def profiles() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.toml") if p.stem not in NOT_PROFILES[1:])


def items(profile: str, directory: Path = POLICY_DIR) -> list[tuple[str, str, str]]:
    """(what, id, article) of every rule, limit, security grade, scorecard area and penalty the
    profile has."""
    policy, scored = load_policy(profile, directory), formula(profile, directory)
    return [*(("rule", r.id, r.article) for r in policy.rules.values()),
            *(("limit", lim.id, lim.article) for lim in policy.limits.values()),
            *(("grade", g.id, g.article) for g in policy.grades.values()),
            *(("scorecard area", a.name, a.article) for a in scored.areas),
            *(("scorecard penalty", p.name, p.article) for p in scored.penalties)]


def prose(article: str) -> str | None:
    """Why the article is not only a citation, or None when it is one."""
    if article == PLATFORM:
        return None
    if article.startswith("govshare"):
        return f'a platform rule is exactly "{PLATFORM}", its explanation in the note'
    if CITATION.fullmatch(article):
        return None
    outside = re.sub(rf"\([^()]*\)|{_TEXT}|\bArts?\.", " ", article)
    words = re.findall(r"[A-Za-z][A-Za-z']*", outside)
    inside = [q for q in re.findall(r"\(([^()]*)\)", article) if re.search(r"[A-Za-z]", q)]
    if words or inside:
        return "English prose " + repr(" ".join(words + inside)) + " (move it to note)"
    return "not a citation: a text's short name, Art. numbers, the text's words in parentheses"


def foreign(profile: str, article: str) -> list[str]:
    """The texts the article cites that are neither the profile's own nor national."""
    if article == PLATFORM:
        return []
    own = OWN_TEXT.get(profile)
    cited = CITED.findall(re.sub(r"\([^()]*\)", " ", article))
    return sorted({t for t in cited if t != own and t not in NATIONAL})


def wrong(profile: str, directory: Path = POLICY_DIR) -> list[str]:
    found = []
    for what, item_id, article in items(profile, directory):
        if why := prose(article):
            found.append(f"{profile}: {what} {item_id}: {article!r}: {why}")
        if others := foreign(profile, article):
            found.append(f"{profile}: {what} {item_id}: {article!r} cites {', '.join(others)}, "
                         f"not {OWN_TEXT.get(profile) or 'a national text'}: cite its own text's "
                         f"article, or make it \"{PLATFORM}\" in this profile")
    return found


def test_every_profile_names_the_text_it_cites():
    unnamed = set(profiles()) - set(OWN_TEXT)
    assert not unnamed, f"profiles without their text in OWN_TEXT: {sorted(unnamed)}"


@pytest.mark.parametrize("profile", profiles())
def test_every_article_is_only_a_citation_of_the_own_text_a_national_one_or_a_platform_rule(profile):
    found = wrong(profile)
    assert not found, "\n".join(found)


# The check itself: the articles policies/*.toml had before notes existed fail it, each for
# its reason; citations pass.
@pytest.mark.parametrize("article", [
    "Ningbo Art. 34 (监督检查、督促整改; the limit is this deployment's, the text sets none)",
    "Ningbo Art. 20 (不得用于任何其他目的), Art. 34; points: deployment choice",
    "govshare integrity: catalog (an entry names what it is and how it is shared)",
    "govshare choice after GD-2018 Art. 19 and Ningbo Art. 17: the provider answers before the authority approves",
    "Ningbo Art. 10 (提供方式), Art. 19: applied everywhere",
    "Hebei Measures (经主管部门同意可延长10个工作日, once)",
    "GD-2018 Art. 30-31 (supervision of timeliness): early warning set by this deployment",
    "govshare platform rule: integrity",
    "Art. 16",
])
def test_prose_in_an_article_is_found(article):
    assert prose(article)


@pytest.mark.parametrize("article", [
    PLATFORM, "GD-2018 Art. 18", "GD-2018 Art. 21, 27", "GD-2008", "State Council 2016",
    "GD-2008 Art. 40(3) (违规使用、泄漏共享信息或擅自扩大使用范围)", "Ningbo Art. 20, 34 (督促整改)",
    "Ningbo Art. 27 (5个工作日内处理), Art. 34, Art. 35", "Ningbo Art. 17-18 (存在爭議的…協調處理; 公共數據共享協調評判機制)",
    "Hebei Measures (目录更新: 10个工作日内)", "Ningbo Art. 5, Art. 17 (經區大數據主管機構審核)",
])
def test_a_citation_is_no_prose(article):
    assert prose(article) is None


def test_another_jurisdictions_text_is_found():
    assert foreign("ningbo-haishu-2021", "Hebei Measures (不得超范围使用); Ningbo Art. 20; GD-2008 Art. 31") \
        == ["GD-2008", "Hebei Measures"]
    assert foreign("common", "GD-2008 Art. 31 (身份认证)") == ["GD-2008"]
    assert foreign("hebei-2023", "State Council 2016 Art. 9 (按目录共享)") == []
    assert foreign("guangxi", PLATFORM) == []


# --- notes: what left the article is kept beside it --------------------------------------

@pytest.mark.parametrize("profile", profiles())
def test_every_weight_and_penalty_says_its_number_is_a_deployment_choice(profile):
    scored = formula(profile)
    missing = [f"{profile}: scorecard {item.name}: note {item.note!r}"
               for item in (*scored.areas, *scored.penalties) if "deployment choice" not in item.note]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("profile", profiles())
def test_every_limit_the_texts_do_not_set_says_it_is_the_deployments(profile):
    limits = load_policy(profile).limits
    missing = [f"{profile}: limit {i}: note {limits[i].note!r}"
               for i in ("deadline-warning", "rectification", "usage-correction")
               if i in limits and "deployment" not in limits[i].note]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("profile", profiles())
def test_every_platform_rule_says_why_in_its_note(profile):
    found = [f"{profile}: {what} {item_id}" for what, item_id, article in items(profile)
             if article == PLATFORM and not _note(profile, what, item_id)]
    assert not found, "platform rules without a note:\n" + "\n".join(found)


def _note(profile: str, what: str, item_id: str) -> str:
    if what == "rule":
        return load_policy(profile).rules[item_id].note
    if what == "limit":
        return load_policy(profile).limits[item_id].note
    if what == "grade":
        return load_policy(profile).grades[item_id].note
    scored = formula(profile)
    return next(i.note for i in (*scored.areas, *scored.penalties) if i.name == item_id)


# Rules whose article said they are govshare's or the deployment's choice still say so.
CHOICES = [
    ("common", "share-period-ended"), ("common", "provider-agreement-first"),
    ("common", "grant-follows-entry"), ("guangdong-2018", "provider-refusal-stands"),
    ("guangdong-2018", "criticism"), ("hebei-2023", "criticism"), ("guangxi", "criticism"),
]


@pytest.mark.parametrize("profile, rule", CHOICES)
def test_a_rule_that_was_a_choice_still_says_so_in_its_note(profile, rule):
    note = load_policy(profile).rules[rule].note
    assert re.search(r"govshare'?s? choice|deployment", note), f"{profile}: rule {rule}: note {note!r}"


@pytest.mark.parametrize("profile, what, item_id, article, note", [
    ("ningbo-haishu-2021", "limit", "rectification", "Ningbo Art. 34 (监督检查、督促整改)",
     "the limit is this deployment's, the text sets none"),
    ("ningbo-haishu-2021", "scorecard penalty", "usage_violations", "Ningbo Art. 20 (不得用于任何其他目的), Art. 34",
     "points: deployment choice"),
    ("common", "rule", "entry-attributes-required", PLATFORM,
     "govshare integrity: catalog (an entry names what it is and how it is shared)"),
    ("common", "rule", "provider-agreement-first", PLATFORM,
     "govshare choice after GD-2018 Art. 19 and Ningbo Art. 17: the provider answers before the authority approves"),
    ("hebei-2023", "rule", "extension-limit", "Hebei Measures (经主管部门同意可延长10个工作日)", "once"),
    ("common", "rule", "usage-bound-to-grant", PLATFORM,
     "after Hebei Measures (不得超范围使用); Ningbo Art. 20; GD-2008 Art. 31"),
])
def test_the_explanation_moved_from_the_article_to_the_note(profile, what, item_id, article, note):
    assert {(w, i): a for w, i, a in items(profile)}[(what, item_id)] == article
    assert _note(profile, what, item_id) == note
