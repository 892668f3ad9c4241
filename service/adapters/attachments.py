"""What an attached file really is: Pillow decodes an image whole (a JPEG, PNG or WebP), pypdf
reads every page of a PDF; anything else, or a file that does not decode as what it is, is
refused. Nothing is re-encoded or stripped: the bytes kept are the bytes sent."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from service.domain.errors import RuleError, TooLargeError, UnsupportedMediaError

MB = 1024 * 1024
MAX_ATTACHMENT_BYTES = 10 * MB  # a phone's photo is 2-8 MB; a scanned page less
MAX_PIXELS = 64_000_000  # a 200-megapixel sensor's photos are scaled down by the phone's camera app
MAX_PDF_PAGES = 50
THUMBNAIL_PX = 320

# The first bytes of each kind taken, and the name Pillow gives it.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "PNG"),
    (b"%PDF-", "application/pdf", None),
)
NEUTRAL_TYPES = ("", "application/octet-stream")


@dataclass(frozen=True)
class Inspected:
    media_type: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None


def detected_type(data: bytes) -> tuple[str, str | None] | None:
    """The kind the content's first bytes say it is (media type, Pillow's format), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "WEBP"
    return next(((media, fmt) for magic, media, fmt in _SIGNATURES if data.startswith(magic)), None)


def inspect_attachment(data: bytes, declared: str | None) -> Inspected:
    """Check that the file is a whole JPEG, PNG, WebP or PDF within the limits; raise 413, 415 or
    422 (naming the field ``file``) otherwise."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise TooLargeError(f"The file is larger than {MAX_ATTACHMENT_BYTES // MB} MB.", field="file")
    if not data:
        raise RuleError("The file is empty.", field="file")
    found = detected_type(data)
    if found is None:
        raise UnsupportedMediaError("A photo (JPEG, PNG or WebP) or a scanned note (PDF) is "
                                    "attached; this file is none of them.", field="file")
    media_type, fmt = found
    said = (declared or "").split(";")[0].strip().lower()
    if said == "image/jpg":
        said = "image/jpeg"
    if said not in NEUTRAL_TYPES and said != media_type:
        raise RuleError(f"The file is sent as {said} but its content is {media_type}.", field="file")
    if fmt is None:
        return Inspected(media_type, pages=_pdf_pages(data))
    width, height = _image_size(data, fmt)
    return Inspected(media_type, width=width, height=height)


def _image_size(data: bytes, fmt: str) -> tuple[int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise RuleError(f"The image is {width}×{height}: over {MAX_PIXELS // 1_000_000} "
                                    "megapixels.", field="file")
                image.verify()  # the structure and checksums
            with Image.open(BytesIO(data), formats=[fmt]) as image:
                image.load()  # every pixel decodes: a truncated photo is refused here
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise RuleError(f"The file is not a whole {fmt} image ({e}).", field="file") from None
    return width, height


def _pdf_pages(data: bytes) -> int:
    try:
        reader = PdfReader(BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise RuleError("The PDF is encrypted; attach it without a password.", field="file")
        pages = len(reader.pages)
        for page in reader.pages:
            page.get_contents()  # every page's content stream reads
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise RuleError(f"The file is not a readable PDF ({type(e).__name__}: {e}).",
                        field="file") from None
    if pages == 0:
        raise RuleError("The PDF has no pages.", field="file")
    if pages > MAX_PDF_PAGES:
        raise RuleError(f"The PDF has {pages} pages; at most {MAX_PDF_PAGES}.", field="file")
    return pages


def thumbnail(data: bytes) -> bytes:
    """A small JPEG of an attached image, turned as the camera held it, for the incident's page."""
    with Image.open(BytesIO(data)) as image:
        image.draft("RGB", (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))  # a JPEG decodes at a fraction of its size
        small = ImageOps.exif_transpose(image)
        small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        if small.mode not in ("RGB", "L"):
            small = small.convert("RGB")
        out = BytesIO()
        small.save(out, "JPEG", quality=80)
        return out.getvalue()
