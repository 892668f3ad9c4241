"""Evidence: the school's signed checkpoints, its public keys, its export and inclusion proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from service.api.deps import AdminActor, AppDep, ViewsDep, require_role
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.domain.common import Actor, Role
from service.reports.evidence import export_lines, inclusion_proof

router = APIRouter(prefix="/v1/evidence", tags=["evidence"], responses=READ_RESPONSES)
EvidenceReader = Annotated[Actor, Depends(require_role(Role.ADMIN, Role.INSPECTOR))]
EXPORT_DESCRIPTION = ("JSON lines (`application/x-ndjson`): a header, the school's public keys, "
                      "its signed checkpoints, then its stored events in log order with their "
                      "links. The format is docs/evidence-export.md; `handover verify` checks it.")


class CheckpointOut(BaseModel):
    school_id: str
    seq: int = Field(description="The number of the school's events the checkpoint covers")
    position: int = Field(description="The log position of the last of them")
    link: str = Field(description="The chain's link after it (SHA-256, hex)")
    at: str
    key_id: str
    signature: str = Field(description="Ed25519 over the checkpoint's canonical JSON, base64")


class ChainOut(BaseModel):
    events: int
    position: int | None
    link: str | None
    view_position: int = Field(description="The log position the chain has been computed to")


class CheckpointsOut(BaseModel):
    school_id: str
    chain: ChainOut
    checkpoints: list[CheckpointOut]
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page (null: none)")


class KeyOut(BaseModel):
    school_id: str
    key_id: str = Field(description="The first 16 hex digits of the SHA-256 of the public key")
    public_key: str = Field(description="The raw 32-byte Ed25519 public key, base64")
    valid_from: str
    valid_until: str | None


class KeysOut(BaseModel):
    school_id: str
    keys: list[KeyOut]


class ProofStep(BaseModel):
    seq: int
    position: int
    digest: str


class ProofOut(BaseModel):
    school_id: str
    seq: int
    position: int
    record: dict[str, Any] = Field(description="The stored record: originator_id, "
                                   "originator_version, topic, state (as stored, base64)")
    previous_link: str
    path: list[ProofStep]
    checkpoint: CheckpointOut


@router.get("/checkpoints", response_model=CheckpointsOut)
def checkpoints(
    actor: EvidenceReader, views: ViewsDep,
    after_seq: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The school's signed checkpoints, oldest first, a page at a time; and its chain's head."""
    evidence = views.evidence
    head = evidence.head(actor.school_id)
    found = evidence.checkpoints(actor.school_id, after_seq=after_seq, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return {"school_id": actor.school_id,
            "chain": {"events": head["seq"] if head else 0, "position": head["position"] if head else None,
                      "link": head["link"] if head else None,
                      "view_position": views.runners["evidence"].position},
            "checkpoints": [c.to_json() for c in found],
            "next_after_seq": found[-1].seq if more else None}


@router.get("/keys", response_model=KeysOut)
def keys(actor: EvidenceReader, views: ViewsDep) -> Any:
    """The school's public keys with the interval each signs in: the key file for `handover verify`."""
    return {"school_id": actor.school_id,
            "keys": [k.to_json() for k in views.evidence.keys(actor.school_id)]}


@router.post("/keys/rotate", response_model=KeyOut, status_code=201, responses=PROBLEM_RESPONSES)
def rotate_key(actor: AdminActor, app: AppDep, views: ViewsDep) -> Any:
    """A new signing key from now on; the current one stays valid for what it signed until now."""
    return views.evidence.rotate(actor.school_id, app.clock.now()).to_json()


@router.get("/export", response_class=StreamingResponse, responses={200: {
    "description": EXPORT_DESCRIPTION, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}})
def export(actor: EvidenceReader, app: AppDep, views: ViewsDep) -> StreamingResponse:
    """The school's evidence export, to verify offline with `handover verify EXPORT --key KEYS`."""
    lines = export_lines(app, views.evidence, actor.school_id, app.clock.now())
    return StreamingResponse(lines, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="evidence-{actor.school_id}.jsonl"'})


@router.get("/proof", response_model=ProofOut)
def proof(actor: EvidenceReader, app: AppDep, views: ViewsDep,
          position: Annotated[int, Query(ge=1, le=2**53, description="The event's log position")]) -> Any:
    """The links that tie the school's event at ``position`` to its next signed checkpoint."""
    return inclusion_proof(app, views.evidence, actor.school_id, position)
