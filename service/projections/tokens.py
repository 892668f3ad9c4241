"""Staff tokens: which tokens each staff member holds, for the admin who revokes a lost one."""

from __future__ import annotations

from datetime import datetime

from service.domain.staff import StaffToken
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles

TOKENS = "tokens"


class StaffTokens(DocProjection):
    """``token/<school>/<staff>/<token id>``: when each token was issued, expires, was revoked."""

    name = TOKENS

    @handles(StaffToken.Issued)
    def issued(self, e: StaffToken.Issued, batch: Batch) -> None:
        key = f"token/{e.school_id}/{e.staff_id}/{e.originator_id}"
        batch.put(f"token-index/{e.originator_id}", {"key": key})
        batch.put(key, {"token_id": str(e.originator_id), "label": e.label,
                        "issued_at": e.issued_at, "expires_at": e.expires_at,
                        "revoked_at": None, "revoked_by": None})

    @handles(StaffToken.Revoked)
    def revoked(self, e: StaffToken.Revoked, batch: Batch) -> None:
        index = batch.get(f"token-index/{e.originator_id}")
        assert index is not None
        doc = batch.get(index["key"])
        assert doc is not None
        batch.put(index["key"], {**doc, "revoked_at": e.by.get("at"),
                                 "revoked_by": e.by.get("staff_name")})


def status(doc: Doc, now: datetime) -> str:
    if doc["revoked_at"]:
        return "revoked"
    expires = doc["expires_at"]
    return "expired" if expires and datetime.fromisoformat(expires) <= now else "active"


def read_tokens(view: DocView, school_id: str, staff_id: str, now: datetime) -> list[Doc]:
    """The member's tokens, newest first, each with its status as of ``now``."""
    docs = view.scan(f"token/{school_id}/{staff_id}/").values()
    found = [{**d, "status": status(d, now)} for d in docs]
    return sorted(found, key=lambda d: (d["issued_at"] or "", d["token_id"]), reverse=True)
