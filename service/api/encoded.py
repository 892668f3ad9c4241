"""Responses with a long list of rows, sent as JSON encoded a row at a time.

A read of a school's roster or afternoon answers a few thousand rows, most of them the same as
the read before. Encoding each row on its own lets the caller keep a row's bytes while the row
stays the same object, and send the list by joining them; the rest of the body is validated and
encoded by the response model as usual. The bytes are those the response model gives.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel, TypeAdapter


class Rows:
    """The body model, its list field and the model of one row of it."""

    def __init__(self, body: type[BaseModel], row: type[BaseModel], field: str = "pupils") -> None:
        self._body, self._row, self.field = TypeAdapter(body), TypeAdapter(row), field
        self._empty, self._open = f'"{field}":[]'.encode(), f'"{field}":['.encode()

    def encode(self, row: dict[str, Any]) -> bytes:
        """One row, validated and encoded as the body model would within the list."""
        return self._row.dump_json(self._row.validate_python(row))

    def response(self, body: dict[str, Any], rows: bytes) -> Response:
        """The body (its list field set aside) with the rows encoded and joined by commas."""
        head = self._body.dump_json(self._body.validate_python({**body, self.field: []}))
        # Only the body's own key can read '"pupils":[]' there: a quote inside a string is escaped.
        return Response(head.replace(self._empty, self._open + rows + b"]", 1), media_type="application/json")
