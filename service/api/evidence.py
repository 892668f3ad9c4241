"""Evidence: the school's signed checkpoints, its public keys, its export and inclusion proofs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import AdminActor, AppDep, ViewsDep, require_role
from service.api.history import TimelineEntry
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line
from service.domain.common import Actor, Role
from service.domain.errors import RuleError
from service.domain.evidence import KeyRotation, PublicKey, b64, unb64, verify_export
from service.domain.privacy import CUSTODY_LIST, group_reads, may_see, read_of
from service.domain.school import School
from service.reports import audit
from service.reports.evidence import export_lines, inclusion_proof
from service.reports.evidence_pack import evidence_pack, pack_lines, pack_tables
from service.reports.exports import content_disposition
from service.reports.pdf import PDF_TYPE, pdf_bytes
from service.use_cases.application import HandoverApp

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


class RotationOut(BaseModel):
    rotation_id: str = Field(description="The KeyRotation aggregate recorded in the school's log")
    staff_id: str
    staff_name: str
    at: str = Field(description="When the admin rotated the key")


class KeyOut(BaseModel):
    school_id: str
    key_id: str = Field(description="The first 16 hex digits of the SHA-256 of the public key")
    public_key: str = Field(description="The raw 32-byte Ed25519 public key, base64")
    valid_from: str
    valid_until: str | None
    rotated: RotationOut | None = Field(default=None, description=(
        "Who brought this key in by a rotation, and when (null: the school's first key, made "
        "with its first checkpoint)"))


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


def _rotation(app: HandoverApp, school_id: str, rotation_id: UUID) -> KeyRotation | None:
    try:
        found: object = app.repository.get(rotation_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, KeyRotation) and found.school_id == school_id else None


def _key_out(app: HandoverApp, key: PublicKey, rotation_id: str | None) -> dict[str, Any]:
    rotation = None if rotation_id is None else _rotation(app, key.school_id, UUID(rotation_id))
    return {**key.to_json(), "rotated": None if rotation is None else {
        "rotation_id": str(rotation.id), "staff_id": rotation.by["staff_id"],
        "staff_name": rotation.by["staff_name"], "at": rotation.by["at"]}}


@router.get("/keys", response_model=KeysOut)
def keys(actor: EvidenceReader, app: AppDep, views: ViewsDep) -> Any:
    """The school's public keys with the interval each signs in (the key file for `handover
    verify`), and for each key a rotation brought in, who rotated when (from the log)."""
    rotations = views.evidence.rotations(actor.school_id)
    return {"school_id": actor.school_id,
            "keys": [_key_out(app, k, rotations.get(k.key_id)) for k in views.evidence.keys(actor.school_id)]}


@router.post("/keys/rotate", response_model=KeyOut, status_code=201, responses=PROBLEM_RESPONSES)
def rotate_key(actor: AdminActor, app: AppDep, views: ViewsDep) -> JSONResponse:
    """A new signing key from now on; the current one stays valid for what it signed until now.
    The rotation is an event of the school's log (who, when, the new public key); a repeat with
    the same Idempotency-Key answers the first rotation's key and rotates nothing."""
    evidence, school_id = views.evidence, actor.school_id
    command = f"{actor.staff_id}/{actor.command_id or uuid4().hex}"
    rotation_id = KeyRotation.create_id(school_id, command)
    headers: dict[str, str] = {}
    rotation = _rotation(app, school_id, rotation_id) if actor.command_id else None
    if rotation is None:
        key_id, public = evidence.key_files.create(school_id)
        rotation = KeyRotation(school_id=school_id, command=command, key_id=key_id,
                               public_key=b64(public), by=dict(actor.record()))
        try:
            recordings = app.save(rotation)
        except IntegrityError:  # the same command, saved first by a concurrent repeat
            rotation = _rotation(app, school_id, rotation_id)
            if rotation is None:
                raise
            headers["Idempotent-Replayed"] = "true"
        else:
            headers["X-Log-Position"] = str(recordings[-1].notification.id)
    else:
        headers["Idempotent-Replayed"] = "true"
    key = evidence.rotate(school_id, datetime.fromisoformat(rotation.by["at"]),
                          new=(rotation.key_id, unb64(rotation.public_key)), rotation=str(rotation.id))
    return JSONResponse(_key_out(app, key, str(rotation.id)), status_code=201, headers=headers)


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


# -- the audit trail searched, the live store verified, a pupil's evidence pack ---------------------

class SearchHit(TimelineEntry):
    seq: int = Field(description="The event's number in the school's chain")


class SearchOut(BaseModel):
    school_id: str
    hits: list[SearchHit]
    scanned_to: int = Field(description="The last log position this page looked at")
    next_after: int | None = Field(description="Pass as after for the next page (null: the range "
                                   "is searched to its end)")


class VerifiedOut(BaseModel):
    school_id: str
    ok: bool
    events: int
    checkpoints_verified: int
    report: list[str] = Field(description="The verifier's report, as `handover verify --live` prints it")
    first_fault: dict[str, Any] | None
    broken_checkpoint: CheckpointOut | None
    last_checkpoint: CheckpointOut | None
    current_key: KeyOut | None
    verified_at: str


class PackOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: str
    school_id: str
    pupil: dict[str, Any]
    custody: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    keys: list[KeyOut]
    proofs: dict[str, int] = Field(description="How many events' proofs verified, wait for a "
                                   "checkpoint, or failed")


def _moment(t: datetime | None, school: School, name: str) -> datetime | None:
    if t is None:
        return None
    t = t.replace(tzinfo=school.tz) if t.tzinfo is None else t
    try:
        t.astimezone(UTC)
    except OverflowError:
        raise RuleError(f"{name} is out of range.", field=name) from None
    return t


def _note_reads(app: HandoverApp, actor: Actor, school: School, what: str, pupil_ids: set[str]) -> None:
    reads = [(p, read_of(may_see(school, actor.staff_id, school.roll.get(p)), CUSTODY_LIST))
             for p in sorted(pupil_ids) if p in school.roll]
    app.access.note(actor, what, group_reads(reads))


@router.get("/search", response_model=SearchOut)
def search(
    actor: EvidenceReader, app: AppDep, views: ViewsDep,
    pupil: Annotated[Line | None, Query(max_length=64, description="Events about this pupil")] = None,
    staff: Annotated[Line | None, Query(max_length=64, description="Events recorded by this staff member")] = None,
    since: Annotated[datetime | None, Query(alias="from", description="ISO 8601; without an offset, "
                                            "the school's time zone")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    type: Annotated[Line | None, Query(max_length=64, pattern=r"^[A-Za-z][A-Za-z.]*$", description=(
        "An event class (PupilDay.Released) or an aggregate's (PupilDay)"))] = None,
    device: Annotated[Line | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=2**53, description="A page's next_after")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The school's stored events that match, in log order, each with its log position and
    who, where and when; a page looks at a bounded stretch of the log and says where to go on."""
    school = app.school(actor.school_id, readonly=True)
    query = audit.Query(pupil_id=pupil, staff_id=staff, since=_moment(since, school, "from"),
                        until=_moment(until, school, "to"), event_type=type, device=device,
                        after=after, limit=limit)
    if query.since and query.until and query.until < query.since:
        raise RuleError("The range ends before it begins.", field="to")
    views.reflect("evidence", app.recorder.max_notification_id())
    found = audit.search(app, views.evidence, school, query)
    _note_reads(app, actor, school, "audit_search", found.pupil_ids)
    return {"school_id": actor.school_id, "hits": found.hits, "scanned_to": found.scanned_to,
            "next_after": found.next_after}


@router.get("/verification", response_model=VerifiedOut)
def verification(actor: EvidenceReader, app: AppDep, views: ViewsDep) -> Any:
    """The school's live store verified now against its published checkpoints and keys."""
    views.reflect("evidence", app.recorder.max_notification_id())
    evidence, now = views.evidence, app.clock.now()
    report = verify_export(export_lines(app, evidence, actor.school_id, now), keys=evidence.all_keys())
    first, key = report.first, evidence.current_key(actor.school_id)
    return {"school_id": actor.school_id, "ok": report.ok, "events": report.events,
            "checkpoints_verified": report.checkpoints, "report": report.lines(),
            "first_fault": None if first is None else {
                "kind": first.kind, "position": first.position, "seq": first.seq, "detail": first.detail},
            "broken_checkpoint": report.broken.to_json() if report.broken else None,
            "last_checkpoint": report.last_checkpoint.to_json() if report.last_checkpoint else None,
            "current_key": key.to_json() if key else None, "verified_at": now.isoformat()}


def _pack(actor: Actor, app: HandoverApp, views: Any, pupil_id: str, first: date | None,
          last: date | None) -> dict[str, Any]:
    school = app.school(actor.school_id, readonly=True)
    pupil = app.pupil(actor.school_id, pupil_id, readonly=True)
    today = app.today(school)
    last = last or today
    first = first or last
    seen = may_see(school, actor.staff_id, pupil.class_id)
    pack = evidence_pack(app, views, school, str(pupil.id), first, last, seen, app.clock.now())
    app.access.note(actor, "evidence_pack", {tuple(read_of(seen, CUSTODY_LIST)): [str(pupil.id)]})
    return pack


@router.get("/pupils/{pupil_id}/pack", response_model=PackOut, responses={200: {"content": {
    PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    "description": "The pack as JSON (each event with its inclusion proof), or a printable A4 PDF"}})
def pupil_pack(pupil_id: Line, actor: EvidenceReader, app: AppDep, views: ViewsDep,
               since: Annotated[IsoDay | None, Query(alias="from")] = None,
               until: Annotated[IsoDay | None, Query(alias="to")] = None,
               format: Literal["json", "pdf"] = "json") -> Any:
    """A pupil's evidence pack for a range of days (31 at most; today without one): the chain of
    custody, the incidents and alerts involving the pupil, each stored event with the proof tying
    it to a signed checkpoint, and the public keys; other pupils' data redacted."""
    pack = _pack(actor, app, views, pupil_id, since, until)
    if format == "json":
        return pack
    title = f"{pack['school_name']} {pack['pupil']['name']} 证据包"
    body = pdf_bytes(title=title, heading=f"{pack['school_name']} 学生证据包", lines=pack_lines(pack),
                     tables=pack_tables(pack), signatures=["督导", "学校"],
                     footer=f"{pack['school_name']} · {pack['from']}–{pack['to']}")
    stem = f"证据包-{pack['pupil']['name']}-{pack['from']}-{pack['to']}"
    return Response(body, media_type=PDF_TYPE, headers={"Content-Disposition": content_disposition(
        f"{stem}.pdf", f"evidence-pack-{pack['from']}-{pack['to']}.pdf", inline=True)})
