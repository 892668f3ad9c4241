"""Table exports for any report: CSV that Excel opens, XLSX with titled sheets, printable A4 HTML."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

Cell = str | int | float | None

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML_TYPE = "text/html; charset=utf-8"
# Declared per media type in OpenAPI, so clients and contract tests know what a 200 can be.
EXPORT_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    "text/html": {"schema": {"type": "string"}},
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


@dataclass(frozen=True)
class Table:
    """A titled table: one CSV file, one XLSX sheet, or one section of a printed page."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    widths: Sequence[int] | None = None  # in characters; guessed from the content when None


def display_width(text: str) -> int:
    """Columns a string takes in a spreadsheet: CJK characters are two wide."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _defused(value: Cell) -> Cell:
    # Names and notes are typed by people: never let a spreadsheet run them as a formula.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(table: Table) -> bytes:
    """UTF-8 with a byte-order mark and CRLF line ends, so Excel shows Chinese correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(["" if v is None else _defused(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _widths(table: Table) -> list[int]:
    if table.widths is not None:
        return list(table.widths)
    widths = []
    for i, header in enumerate(table.headers):
        longest = max([display_width(header), *(display_width(str(r[i])) for r in table.rows
                                                 if i < len(r) and r[i] is not None)])
        widths.append(min(max(longest + 2, 6), 50))  # long text wraps instead of stretching
    return widths


def _sheet_title(title: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "Sheet"
    name, n = base, 2
    while name in taken:
        suffix = f"({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def xlsx_bytes(title: str, lines: Sequence[str], tables: Sequence[Table]) -> bytes:
    """One sheet per table, each headed by the report's title and lines, ready to print on A4."""
    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    for table in tables:
        sheet = book.create_sheet(_sheet_title(table.title, taken))
        ncols = max(len(table.headers), 1)
        last = get_column_letter(ncols)
        heading = [(f"{title} · {table.title}", Font(bold=True, size=14)),
                   *((line, Font(size=10)) for line in lines)]
        for r, (text, font) in enumerate(heading, start=1):
            cell = sheet.cell(row=r, column=1, value=_clean(text))
            cell.font = font
            cell.alignment = Alignment(horizontal="left", vertical="center")
            sheet.merge_cells(f"A{r}:{last}{r}")
        header_row = len(heading) + 1
        for c, header in enumerate(table.headers, start=1):
            cell = sheet.cell(row=header_row, column=c, value=header)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDE5F0")
            cell.border = _BORDER
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        for r, row in enumerate(table.rows, start=header_row + 1):
            for c, value in enumerate(row, start=1):
                cell = sheet.cell(row=r, column=c, value=_clean(value))
                if isinstance(value, str):
                    cell.data_type = "s"  # text that starts with "=" stays text
                cell.border = _BORDER
                cell.alignment = Alignment(vertical="top", wrap_text=True)
        for c, width in enumerate(_widths(table), start=1):
            sheet.column_dimensions[get_column_letter(c)].width = width
        sheet.freeze_panes = f"A{header_row + 1}"
        sheet.print_title_rows = f"{header_row}:{header_row}"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.orientation = "landscape" if ncols > 8 else "portrait"
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _clean(value: Cell) -> Cell:
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def html_table(table: Table, *, classes: Sequence[str] = ()) -> str:
    """The table as escaped HTML; empty tables say so rather than print a bare header."""
    cells = [["" if v is None else str(v) for v in row] for row in table.rows]
    # A column of short values (names, times, classes) never breaks; a column with long text wraps.
    short = [all(display_width(r[i]) <= 12 for r in cells if i < len(r)) for i in range(len(table.headers))]
    nw = ' class="nw"'
    head = "".join(f"<th{nw if display_width(h) <= 4 else ''}>{escape(h)}</th>" for h in table.headers)
    if not cells:
        body = f'<tr><td colspan="{len(table.headers)}" class="empty">无 / none</td></tr>'
    else:
        body = "".join("<tr>" + "".join(f"<td{nw if i < len(short) and short[i] else ''}>{escape(text)}</td>"
                                        for i, text in enumerate(row)) + "</tr>" for row in cells)
    cls = f' class="{escape(" ".join(classes))}"' if classes else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_CSS = """
@page { size: A4; margin: 12mm 10mm 14mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       "SimSun", sans-serif; font-size: 9.5pt; color: #000; margin: 0; line-height: 1.45; }
.sheet { max-width: 190mm; margin: 0 auto; }
header { text-align: center; border-bottom: 1.5pt solid #000; padding-bottom: 2mm; margin-bottom: 3mm; }
header .school { font-size: 12pt; letter-spacing: 0.1em; }
h1 { font-size: 17pt; margin: 1mm 0 0; letter-spacing: 0.3em; }
h2 { font-size: 11pt; margin: 4mm 0 1mm; border-left: 3pt solid #000; padding-left: 2mm; }
dl.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 1mm 3mm;
           margin: 0 0 2mm; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
table { width: 100%; border-collapse: collapse; margin: 1mm 0 2mm; }
th, td { border: 0.5pt solid #444; padding: 0.8mm 1.2mm; vertical-align: top; text-align: left; }
th { background: #e8e8e8; }
.nw { white-space: nowrap; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
td.empty { text-align: center; color: #555; }
.signatures { display: flex; justify-content: space-between; gap: 10mm; margin-top: 10mm;
              page-break-inside: avoid; break-inside: avoid; }
.signatures div { flex: 1; }
.line { display: inline-block; min-width: 38mm; border-bottom: 0.6pt solid #000; }
footer { margin-top: 6mm; font-size: 8pt; color: #333; }
@media screen { body { background: #eee; } .sheet { background: #fff; padding: 12mm 10mm;
  margin: 6mm auto; box-shadow: 0 0 4px #999; } }
@media print { .noprint { display: none; } }
"""


def printable_page(*, title: str, heading: str, subheading: str, facts: Sequence[tuple[str, str]],
                   sections: Sequence[tuple[str, str]], signatures: Sequence[str], footer: str) -> str:
    """An A4 page: heading, facts, sections (trusted HTML made here), signature lines, footer."""
    facts_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    body = "".join(f"<section><h2>{escape(name)}</h2>{html}</section>" for name, html in sections)
    signs = "".join(f'<div>{escape(role)}（签名）：<span class="line"></span><br><br>'
                    f'日期：<span class="line"></span></div>' for role in signatures)
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{PAGE_CSS}</style></head><body><div class=\"sheet\">"
        '<p class="noprint"><button onclick="window.print()">打印 / Print</button></p>'
        f'<header><div class="school">{escape(subheading)}</div><h1>{escape(heading)}</h1></header>'
        f'<dl class="facts">{facts_html}</dl>{body}'
        f'<div class="signatures">{signs}</div><footer>{escape(footer)}</footer></div></body></html>'
    )


def safe_filename(name: str) -> str:
    """A file name any system accepts: no path separators, reserved or control characters."""
    cleaned = "".join("_" if ch in '\\/:*?"<>|' or unicodedata.category(ch).startswith("C") else ch
                      for ch in name).strip(" .")
    return cleaned or "export"


def content_disposition(filename: str, fallback: str, *, inline: bool = False) -> str:
    """RFC 6266 with an ASCII fallback and the UTF-8 name in ``filename*`` (RFC 5987)."""
    ascii_name = safe_filename(fallback).encode("ascii", "replace").decode().replace("?", "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe_filename(filename), safe='')}"
