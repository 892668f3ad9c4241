"""The one text type every string a request carries passes through: printable, bounded text only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

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


@dataclass(frozen=True)
class PlainText:
    """Refuses control characters (tab and newline are kept where text is multi-line) and lone
    surrogates, and caps the length where a field sets no tighter limit of its own."""

    multiline: bool = False
    max_length: int = 200

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_wrap_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("maxLength", self.max_length)
        return json_schema

    def _check(self, value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, str):
            why = unprintable(value, multiline=self.multiline)
            if why is not None:
                raise PydanticCustomError("unprintable_text", why)
            if len(value) > self.max_length:
                raise PydanticCustomError(
                    "string_too_long", "String should have at most {max_length} characters",
                    {"max_length": self.max_length})
        return validate(value)


# One line: names, ids, keys, phone numbers, search terms (at most 200 characters).
Line = Annotated[str, PlainText()]
# One long line: document references, photo references, URLs (at most 2000 characters).
LongLine = Annotated[str, PlainText(max_length=2000)]
# Multi-line: notes, reasons, details (tab and newline allowed; at most 2000 characters).
Prose = Annotated[str, PlainText(multiline=True, max_length=2000)]
