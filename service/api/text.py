"""The one text type every string a request carries passes through: printable, bounded text only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from service.printable import unprintable


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
