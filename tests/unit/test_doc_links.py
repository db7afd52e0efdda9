"""Every link in README.md, client/README.md and docs/*.md resolves, and none leaves the project.

A relative link names a file or folder of the repository (never outside it); its #anchor, on a Markdown
page, is the GitHub slug of a heading of that page. Nothing links outside the project: an http(s) address
may appear as code (`http://127.0.0.1:3000`), never as a link, an autolink or a bare URL that GitHub
would turn into one.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "client" / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
# a code span may wrap onto the next line of its paragraph, never past a blank line
CODE_SPAN = re.compile(r"(`+)(?:(?!\n[ \t]*\n).)+?\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]*)(?:\s+\"[^\"]*\")?\)")
REFERENCE_DEFINITION = re.compile(r"^[ \t]*\[[^\]]+\]:[ \t]*(?P<target>\S+)", re.MULTILINE)
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["'](?P<target>[^"']+)["']""")
AUTOLINK = re.compile(r"<(?P<target>[a-z][a-z0-9+.-]*:[^>\s]+)>", re.IGNORECASE)
# as GitHub's autolinks end: before a space, a bracket, or trailing punctuation
BARE_URL = re.compile(r"(?<![\w/])(?:https?://|www\.)[^\s)>\]]*[^\s)>\],.;:!?'\"]", re.IGNORECASE)
OUTSIDE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # a scheme (http:, mailto:, …) or //host
HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(?P<text>.+?)[ \t#]*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["'](?P<anchor>[^"']+)["']""", re.IGNORECASE)


def prose(markdown: str) -> str:
    """The page without its code: fenced blocks and code spans hold no links."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = text.replace("`", "").replace("*", "").lower()
    text = "".join(char for char in text if char.isalnum() or char in " -_")
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every #anchor the page has: its headings' slugs (a repeated one gets -1, -2 …) and HTML anchors."""
    markdown = page.read_text(encoding="utf-8")
    found: set[str] = set()
    seen: Counter[str] = Counter()
    for match in HEADING.finditer(FENCE.sub("", markdown)):
        base = slug(match["text"])
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    found.update(match["anchor"] for match in HTML_ANCHOR.finditer(markdown))
    return frozenset(found)


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    targets = [
        match["target"]
        for pattern in (INLINE_LINK, REFERENCE_DEFINITION, HTML_LINK)
        for match in pattern.finditer(text)
    ]
    return targets + [match["target"] for match in AUTOLINK.finditer(text)]


def broken(page: Path, target: str) -> str | None:
    """Why `target`, a link on `page`, does not resolve inside the project; None when it does."""
    if not target:
        return "an empty link"
    if OUTSIDE.match(target):
        return "links outside the project (write it as code or plain text instead)"
    path_part, _, anchor = target.partition("#")
    resolved = (page.parent / path_part).resolve() if path_part else page
    if not resolved.is_relative_to(ROOT):
        return "points outside the repository"
    if not resolved.exists():
        return f"no such file or folder: {resolved.relative_to(ROOT)}"
    if anchor:
        if resolved.suffix != ".md":
            return f"an #anchor on {resolved.relative_to(ROOT)}, which has no headings"
        if anchor not in anchors(resolved):
            return f"no heading of {resolved.relative_to(ROOT)} has the anchor #{anchor}"
    return None


def test_the_pages_are_the_ones_the_readme_maps() -> None:
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "client/README.md", "docs/API.md", "docs/architecture.md", "docs/events.md"} <= names
    assert {"docs/operations.md", "docs/benchmarks.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_link_resolves_inside_the_project(page: Path) -> None:
    found = links(page)
    problems = [f"({target}): {why}" for target in found if (why := broken(page, target))]
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_no_bare_address_that_github_would_link(page: Path) -> None:
    bare = BARE_URL.findall(prose(page.read_text(encoding="utf-8")))
    assert not bare, f"{page.relative_to(ROOT)}: write these as code, or leave them out: {bare}"


def test_every_page_is_reachable_from_the_readme() -> None:
    reached, todo = {ROOT / "README.md"}, [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        for target in links(page):
            path_part = target.partition("#")[0]
            linked = (page.parent / path_part).resolve() if path_part else page
            if linked in PAGES and linked not in reached:
                reached.add(linked)
                todo.append(linked)
    assert set(PAGES) - reached == set(), "pages no link leads to"


# --- the checker itself: each rule can fail -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Acting for users: role `service`", "acting-for-users-role-service"),
        ("History bases (compaction)", "history-bases-compaction"),
        ("Alarms: what each means and what to do", "alarms-what-each-means-and-what-to-do"),
        ("Session service — API contract (v1)", "session-service--api-contract-v1"),
        ("The [dev server](x.md) and *its* fixes", "the-dev-server-and-its-fixes"),
    ],
)
def test_slug_is_githubs(heading: str, expected: str) -> None:
    assert slug(heading) == expected


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("https://example.com/page", "links outside the project"),
        ("mailto:someone@example.com", "links outside the project"),
        ("//example.com", "links outside the project"),
        ("docs/missing.md", "no such file or folder"),
        ("../outside.md", "points outside the repository"),
        ("docs/API.md#no-such-heading", "no heading of docs/API.md has the anchor #no-such-heading"),
        ("#no-such-heading", "no heading of README.md has the anchor"),
        ("template.yaml#Resources", "has no headings"),
        ("", "an empty link"),
    ],
)
def test_a_broken_link_is_named(target: str, why: str) -> None:
    reason = broken(ROOT / "README.md", target)
    assert reason is not None and why in reason, reason


def test_links_are_found_across_lines_and_never_in_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\nSee [the\nthing](#title), ![a picture](pic.png), <https://example.com>,\n"
        "[ref]: other.md\n\n`[not a link](nowhere.md)` and\n\n```md\n[nor this](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert links(page) == ["#title", "pic.png", "other.md", "https://example.com"]
    assert BARE_URL.findall(prose("visit https://example.com or www.example.com, not `http://127.0.0.1:3000`")) == [
        "https://example.com",
        "www.example.com",
    ]
