"""The routing table: each district's service (one or more base URLs of the same store) and the
schools it holds, read from a TOML file and checked whole before the router starts.

```toml
[districts.east]
upstreams = ["http://10.0.1.5:8000", "http://10.0.1.6:8000"]
schools = ["6f1c…", "0b2e…"]          # the school ids `handover init` printed
```
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DISTRICT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class RouteTableError(ValueError):
    """The table cannot be used: what is wrong, and where."""


@dataclass(frozen=True)
class District:
    name: str
    upstreams: tuple[str, ...]  # base URLs without a trailing slash, tried in this order
    schools: frozenset[str]


@dataclass(frozen=True)
class RouteTable:
    districts: tuple[District, ...]
    warnings: tuple[str, ...] = ()  # usable, but likely not what was meant

    def district(self, name: str) -> District:
        return next(d for d in self.districts if d.name == name)

    def district_of_school(self, school_id: str) -> District | None:
        return next((d for d in self.districts if school_id in d.schools), None)


def _upstream(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise RouteTableError(f"{where}: an upstream is a URL string, not {value!r}")
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RouteTableError(f"{where}: {value!r} is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        raise RouteTableError(f"{where}: the upstream {shown!r} has a user or password in its URL; "
                              "a district's service is reached without one (put it on a private "
                              "network, or behind a proxy that adds it)")
    if parts.query or parts.fragment:
        raise RouteTableError(f"{where}: {value!r}: a base URL has no query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise RouteTableError(f"{where}: {value!r} has a bad port") from None
    return value.rstrip("/")


def parse_table(text: str, source: str = "the table") -> RouteTable:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RouteTableError(f"{source} is not valid TOML: {e}") from None
    unknown = set(data) - {"districts"}
    if unknown:
        raise RouteTableError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                              "the table holds [districts.NAME] sections only")
    sections = data.get("districts")
    if not isinstance(sections, dict) or not sections:
        raise RouteTableError(f"{source} names no district: add a [districts.NAME] section with "
                              "upstreams = [\"http://host:port\"] and schools = [\"school id\", …]")
    districts: list[District] = []
    warnings: list[str] = []
    owner: dict[str, str] = {}
    served_by: dict[str, str] = {}  # an upstream (scheme, host and port) -> its district
    for name, section in sections.items():
        where = f"{source}: [districts.{name}]"
        if not DISTRICT_NAME.match(name):
            raise RouteTableError(f"{where}: a district's name is letters, digits, - and _ (at most 40)")
        if not isinstance(section, dict):
            raise RouteTableError(f"{where} is not a section")
        extra = set(section) - {"upstreams", "schools"}
        if extra:
            raise RouteTableError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; "
                                  "a district has upstreams and schools")
        upstreams = section.get("upstreams")
        if isinstance(upstreams, str):
            upstreams = [upstreams]
        if not isinstance(upstreams, list) or not upstreams:
            raise RouteTableError(f"{where}: upstreams = [\"http://host:port\", …] is required")
        schools = section.get("schools", [])
        if not isinstance(schools, list) or not all(isinstance(s, str) and s.strip() for s in schools):
            raise RouteTableError(f"{where}: schools is a list of school ids (strings)")
        for school in (s.strip() for s in schools):
            if owner.get(school) == name:
                raise RouteTableError(f"{where}: school {school} is listed twice; list it once")
            if school in owner:
                raise RouteTableError(f"{where}: school {school} is in district "
                                      f"{owner[school]} too; a school is in one district")
            owner[school] = name
        bases = tuple(_upstream(where, u) for u in upstreams)
        for base in bases:
            same = _service(base)
            if same in served_by:
                raise RouteTableError(
                    f"{where}: the upstream {base} is listed twice"
                    + ("" if served_by[same] == name else f" (in district {served_by[same]} too)")
                    + "; each district has a service of its own")
            served_by[same] = name
        if not schools:
            warnings.append(f"{where} lists no school: every token of it will be refused 421")
        districts.append(District(name, bases, frozenset(s.strip() for s in schools)))
    return RouteTable(tuple(districts), tuple(warnings))


def _service(base: str) -> str:
    """The service a base URL reaches, however it is spelt (case, default port, trailing path)."""
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}{parts.path.rstrip('/')}"


def load_table(path: Path) -> RouteTable:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RouteTableError(f"the routing table {path} cannot be read: {e}") from None
    table = parse_table(text, str(path))
    for warning in table.warnings:
        print(f"handover route: warning: {warning}", file=sys.stderr)
    return table
