"""Sanitizing of short human text such as titles."""

from __future__ import annotations

import re
import unicodedata

TITLE_MAX_LENGTH = 60

# Cc: control characters; Cf: format characters (zero-width spaces, BOM, bidi overrides);
# Cs: lone surrogates, which are not text at all and cannot be stored as UTF-8.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_WHITESPACE_RUN = re.compile(r"\s+")

# Every character sanitizing removes or collapses (whitespace, Cc, Cf of Unicode 15.1), as a regex
# class: a title must hold one character outside it. Spelled out rather than computed, since
# scanning Unicode at import would cost every cold start; a unit test keeps it equal to the rule.
# Astral characters are literal, so the class reads the same in Python, Rust (pydantic) and
# ECMA-262 with Unicode semantics (JSON Schema).
INVISIBLE_CLASS = (
    "\\u0000-\\u0020\\u007f-\\u00a0\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2"
    "\\u1680\\u180e\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u2064\\u2066-\\u206f\\u3000\\ufeff"
    "\\ufff9-\\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# What the OpenAPI document states for a title: it holds a visible character (so it is not empty
# once sanitized), and at most 60 characters as sent (so it is not longer once sanitized).
TITLE_PATTERN = f"[^{INVISIBLE_CLASS}]"


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
