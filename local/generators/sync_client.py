"""The sync client (client/src/sessions_client/_sync.py), generated from the async one (_async.py).

python -m local.generators.sync_client --write   regenerate _sync.py (committed; also `make openapi`)
python -m local.generators.sync_client --check   exit 1 when the committed file is stale

An unasync-style rewrite: the table below turns the async source into the sync client, then ruff
sorts the imports and formats it (a line that lost its `await` may fit on one line). Every rule must
match somewhere, and no `async`, `await`, `asyncio` or `Async…` name may survive: a construct of the
async source the table does not know fails generation rather than produce a sync client that awaits.
What differs beyond these mechanics is written twice by hand where the client keeps it
(`bearer_token` / `async_bearer_token` in _core.py: an async token provider is awaited).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "client" / "src" / "sessions_client"
ASYNC_PATH = PACKAGE / "_async.py"
SYNC_PATH = PACKAGE / "_sync.py"
COMMAND = "make openapi (or: python -m local.generators.sync_client --write)"
HEADER = (
    "# GENERATED from _async.py by local/generators/sync_client.py: do not edit, edit _async.py.\n"
    f"# Regenerate: {COMMAND}\n"
)


@dataclass(frozen=True)
class Rule:
    pattern: str
    replacement: str
    why: str

    def apply(self, text: str) -> tuple[str, int]:
        return re.subn(self.pattern, self.replacement, text, flags=re.MULTILINE)


RULES = (
    # names: AsyncSessionsClient, AsyncIterator, httpx.AsyncClient, httpx.AsyncBaseTransport, async_bearer_token
    Rule(r"\bAsync(?=[A-Z])", "", "an async class's sync twin has its name without `Async`"),
    Rule(r"\basync_(?=\w)", "", "an async function's sync twin has its name without `async_`"),
    Rule(r"\baclose\b", "close", "httpx and the client close with aclose() / close()"),
    Rule(r"\b__a(enter|exit)__\b", r"__\1__", "async with → with"),
    Rule(r"\basync (?=(def|for|with)\b)", "", "coroutines and async loops become plain ones"),
    Rule(r"\bawait ", "", "nothing is awaited"),
    Rule(r"^import asyncio$", "import time", "the retries' back-off sleeps"),
    Rule(r"\basyncio\.sleep\b", "time.sleep", "the retries' back-off sleeps"),
    # an async generator cannot `yield from`; ruff asks the sync one to (UP028)
    Rule(r"^( *)for (\w+) in (.+):\n\1    yield \2\n", r"\1yield from \3\n", "yield from an iterable"),
    # `close = aclose` (the async client answers both) is `close = close` once renamed
    Rule(r"^ *(\w+) = \1\n", "", "an alias of a name the renaming made the same"),
    # prose
    Rule(
        r'\A""".*?"""\n',
        '"""The synchronous client: the methods of the asynchronous one, not awaited."""\n',
        "the module's docstring",
    ),
    Rule(
        r"asynchronously \(`token` may also be an async callable\)\.",
        "synchronously.",
        "the class's docstring",
    ),
)
# what the async source says that the sync client must not
LEFTOVER = re.compile(r"\basync\b|\bawait\b|\basyncio\b|\bAsync[A-Z]\w*|\baclose\b|__a(enter|exit)__")


class GenerationError(Exception):
    pass


def unasync(source: str, rules: tuple[Rule, ...] = RULES) -> str:
    """The sync twin of `source` by `rules`; GenerationError when a rule matches nothing or async code is left."""
    text = source
    for rule in rules:
        text, count = rule.apply(text)
        if not count:
            raise GenerationError(f"the rule for {rule.why!r} ({rule.pattern}) matches nothing: update RULES")
    leftovers = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if LEFTOVER.search(line)
    ]
    if leftovers:
        raise GenerationError("the sync client would still be async (add a rule to RULES):\n" + "\n".join(leftovers))
    return text


def ruff(arguments: list[str], text: str) -> str:
    """`text` through ruff with the project's settings (those of a file at SYNC_PATH)."""
    command = [sys.executable, "-m", "ruff", *arguments, "--stdin-filename", str(SYNC_PATH), "-"]
    done = subprocess.run(command, input=text, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        raise GenerationError(f"ruff {arguments[0]} failed on the rewritten source:\n{done.stderr}")
    return done.stdout


def generate_sync_client() -> str:
    text = unasync(ASYNC_PATH.read_text(encoding="utf-8"))
    text = ruff(["check", "--fix-only", "--select", "I", "--quiet"], text)  # Iterator sorts after Iterable
    return HEADER + ruff(["format", "--quiet"], text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write _sync.py")
    parser.add_argument("--check", action="store_true", help="fail when _sync.py is stale")
    args = parser.parse_args()
    text = generate_sync_client()
    if args.write:
        SYNC_PATH.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        stale = not SYNC_PATH.exists() or SYNC_PATH.read_text(encoding="utf-8") != text
        if stale:
            print(f"{SYNC_PATH.relative_to(ROOT)} is stale: run {COMMAND}", file=sys.stderr)
        return int(stale)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
