"""Printable PDF for any report: A4, Chinese text in an embedded CJK font, titled tables, signatures.

fpdf2 embeds the font as a subset, so a reader needs no font of its own. A font with TrueType
outlines comes first: Debian's WenQuanYi Zen Hei (fonts-wqy-zenhei, which
``scripts/ensure-browser.sh`` installs) is embedded as CIDFontType2 with Identity-H, and its text
copies out cleanly in every reader tried (poppler, pypdf). Noto Sans CJK's CFF outlines embed and
print as well, but pypdf reads their text back padded with NUL characters, so Noto is the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF, FontFace

from service.reports.exports import Table, display_width

PDF_TYPE = "application/pdf"
# Each font file and the number of its Simplified Chinese face in the collection.
CJK_FONTS = (
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),  # JP, KR, SC, TC, HK
)
FAMILY = "cjk"


class NoCJKFontError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("No CJK TrueType font found (looked for "
                         + ", ".join(str(p) for p, _ in CJK_FONTS)
                         + "); install Debian's fonts-wqy-zenhei.")


def cjk_font() -> tuple[Path, int]:
    """The first CJK font installed, and the number of its Simplified Chinese face."""
    for path, face in CJK_FONTS:
        if path.is_file():
            return path, face
    raise NoCJKFontError


class _Page(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, size=7.5)
        self.cell(0, 5, f"{self.footer_text}    第 {self.page_no()}/{{nb}} 页", align="C")


def _widths(table: Table, total: float) -> tuple[float, ...]:
    if table.widths is not None:
        raw = [float(w) for w in table.widths]
    else:
        raw = []
        for i, header in enumerate(table.headers):
            longest = max([display_width(header), *(display_width(str(r[i])) for r in table.rows
                                                     if i < len(r) and r[i] is not None)])
            raw.append(float(min(max(longest, 4), 40)))
    scale = total / sum(raw)
    return tuple(w * scale for w in raw)


ROW_LINES = 36  # lines of one table row at most: a longer cell goes on in the rows after it
FONT_MM = 8.5 * 25.4 / 72  # the tables' character height, the width of a CJK character


def _chunks(text: str, width_mm: float) -> list[str]:
    """A cell's text in pieces that each fit in one table row on a page (fpdf refuses a row
    taller than a page): a refused clearing may name a whole school's pupils in one cell."""
    per_line = max(4, int(width_mm / FONT_MM) - 1)
    size = per_line * ROW_LINES
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def pdf_bytes(*, title: str, heading: str, lines: Sequence[str], tables: Sequence[Table],
              signatures: Sequence[str] = (), footer: str = "") -> bytes:
    """The report as an A4 PDF: heading, the report's lines, one titled table after another
    (an empty one says so), then a signature line for each role named."""
    pdf = _Page(footer)
    pdf.set_title(title)
    pdf.set_creator("Handover 课后服务安全交接")
    font, face = cjk_font()
    pdf.add_font(FAMILY, fname=str(font), collection_font_number=face)
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font(FAMILY, size=16)
    pdf.cell(0, 10, heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=9)
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    total = pdf.epw
    for table in tables:
        pdf.ln(3)
        pdf.set_font(FAMILY, size=11)
        pdf.cell(0, 7, table.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, size=8.5)
        if not table.rows:
            pdf.cell(0, 6, "无 / none", border=1, align="C", new_x="LMARGIN", new_y="NEXT")
            continue
        widths = _widths(table, total)
        with pdf.table(col_widths=widths, width=total, line_height=4.6,
                       headings_style=FontFace(fill_color=(232, 232, 232)),
                       text_align="LEFT") as out:
            head = out.row()
            for h in table.headers:
                head.cell(h)
            for row in table.rows:
                pieces = [_chunks("" if v is None else str(v), w) for v, w in zip(row, widths, strict=False)]
                for n in range(max(len(p) for p in pieces)):  # continued: the row's next piece
                    cells = out.row()
                    for p in pieces:
                        cells.cell(p[n] if n < len(p) else "")
    if signatures:
        pdf.ln(10)
        pdf.set_font(FAMILY, size=10)
        width = total / len(signatures)
        for role in signatures:
            pdf.cell(width, 8, f"{role}（签名）：__________")
        pdf.ln(10)
    return bytes(pdf.output())
