"""Which text may be stored: no control characters (tab and newline where text is multi-line), no
bidirectional overrides, no lone surrogates."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL and lone surrogates: a NUL stops PostgreSQL's JSON (every view then stops
# for every school), and the others garble screens, exports and logs.
# The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) make a name
# or a note read otherwise than it is stored: 王\u202e五 shows as another name in an alert.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_UNPRINTABLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
_UNPRINTABLE_PROSE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")  # keeps \t, \n


def unprintable(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored (the first offending character and where), or None."""
    found = (_UNPRINTABLE_PROSE if multiline else _UNPRINTABLE_LINE).search(value)
    if found is None:
        return None
    code = ord(found.group())
    kind = ("a lone surrogate" if 0xD800 <= code <= 0xDFFF
            else "a bidirectional control" if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069
            else "a control character")
    return f"contains {kind} (U+{code:04X}) at position {found.start() + 1}"
