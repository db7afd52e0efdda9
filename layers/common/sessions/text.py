"""Sanitizing of short human text such as titles."""

from __future__ import annotations

import re
import unicodedata

TITLE_MAX_LENGTH = 60

# Cc: control characters; Cf: format characters (zero-width spaces, BOM, bidi overrides);
# Cs: lone surrogates, which are not text at all and cannot be stored as UTF-8.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_WHITESPACE_RUN = re.compile(r"\s+")


def sanitize_title(raw: str) -> str:
    """Strip invisible characters, collapse whitespace, trim. Raises ValueError when unusable."""
    # whitespace controls (tab, newline) become spaces first so that "a\tb" stays two words
    spaced = _WHITESPACE_RUN.sub(" ", raw)
    visible = "".join(ch for ch in spaced if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)
    title = _WHITESPACE_RUN.sub(" ", visible).strip()
    if not title:
        raise ValueError("title is empty after removing control and format characters")
    if len(title) > TITLE_MAX_LENGTH:
        raise ValueError(f"title is longer than {TITLE_MAX_LENGTH} characters after sanitizing")
    return title
