"""A pupil's photo: a JPEG, PNG or WebP decoded whole by Pillow (as an incident's photo is), then
turned as the camera held it and scaled down to what a gate card shows, kept as a JPEG."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps

from service.adapters.attachments import MB, detected_type, inspect_attachment
from service.domain.errors import TooLargeError, UnsupportedMediaError

MAX_PHOTO_BYTES = 10 * MB  # as sent, from a phone's camera; what is kept is far smaller
PHOTO_PX = 600  # the longer side of the photo kept: a gate card shows it at about 200 px


@dataclass(frozen=True)
class Photo:
    content: bytes  # the JPEG kept
    width: int
    height: int
    sent_type: str
    sent_bytes: int


def prepare_photo(data: bytes, declared: str | None) -> Photo:
    """Check the file is a whole image within the limits (413, 415 or 422 naming ``file``), and
    make the photo kept of it."""
    if len(data) > MAX_PHOTO_BYTES:
        raise TooLargeError(f"The photo is larger than {MAX_PHOTO_BYTES // MB} MB.", field="file")
    found = detected_type(data)
    if data and (found is None or not found[0].startswith("image/")):
        raise UnsupportedMediaError("A pupil's photo is a JPEG, PNG or WebP image.", field="file")
    inspected = inspect_attachment(data, declared)
    with Image.open(BytesIO(data)) as image:
        image.draft("RGB", (PHOTO_PX * 2, PHOTO_PX * 2))
        turned = ImageOps.exif_transpose(image)
        turned.thumbnail((PHOTO_PX, PHOTO_PX))
        if turned.mode != "RGB":
            turned = turned.convert("RGB")
        out = BytesIO()
        turned.save(out, "JPEG", quality=85, optimize=True)  # no EXIF: no place or time of the shot
        width, height = turned.size
    return Photo(out.getvalue(), width, height, inspected.media_type, len(data))
