"""The one text type every string a request carries passes through: printable, bounded text only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from service.domain.printable import unprintable


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


@dataclass(frozen=True)
class HeaderDecoded:
    """HTTP hands header values over as Latin-1: re-read their bytes as the UTF-8 they were sent
    in, so that Chinese text is kept as text, and refuse bytes that are not UTF-8."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_before_validator_function(self._decode, handler(source))

    @staticmethod
    def _decode(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return value.encode("latin-1").decode("utf-8")
            except UnicodeEncodeError:
                return value  # already text (not from the wire)
            except UnicodeDecodeError:
                raise PydanticCustomError("invalid_utf8", "is not valid UTF-8") from None
        return value


# One line: names, ids, keys, phone numbers, search terms (at most 200 characters).
Line = Annotated[str, PlainText()]
# One header value: UTF-8 on the wire, then checked as a Line.
HeaderLine = Annotated[str, PlainText(), HeaderDecoded()]
# One long line: document references, photo references, URLs (at most 2000 characters).
LongLine = Annotated[str, PlainText(max_length=2000)]
# Multi-line: notes, reasons, details (tab and newline allowed; at most 2000 characters).
Prose = Annotated[str, PlainText(multiline=True, max_length=2000)]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class IsoDate:
    """A date is YYYY-MM-DD: a date and time, or a timestamp, where a date is asked is refused
    rather than silently cut to its day."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_wrap_validator_function(self._check, handler(source))

    def _check(self, value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, datetime) or not isinstance(value, (str, date)) or (
                isinstance(value, str) and not _ISO_DATE.fullmatch(value)):
            raise PydanticCustomError("date_only", "Input should be a date as YYYY-MM-DD")
        return validate(value)


# A calendar day, as YYYY-MM-DD only.
IsoDay = Annotated[date, IsoDate()]
