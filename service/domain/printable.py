"""Which text may be stored: no control characters (tab and newline where text is multi-line), no
lone surrogates."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL and lone surrogates: a NUL stops PostgreSQL's JSON (every view then stops
# for every school), and the others garble screens, exports and logs.
_UNPRINTABLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNPRINTABLE_PROSE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # keeps \t and \n


def unprintable(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored (the first offending character and where), or None."""
    found = (_UNPRINTABLE_PROSE if multiline else _UNPRINTABLE_LINE).search(value)
    if found is None:
        return None
    code = ord(found.group())
    kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    return f"contains {kind} (U+{code:04X}) at position {found.start() + 1}"
