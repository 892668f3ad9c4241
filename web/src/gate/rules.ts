// What the card shows of a pupil's file for today: who may collect, who must not, and whether a
// going-home-alone statement covers the day. The service decides again on every release.
import type { Pupil, RosterPupil } from "../api/client";
import type { Queued } from "../queue";
import { weekday, within } from "../time";

export interface Collector {
  id: string; // guardian_id or authorisation_id: the collector_id of a release ("" if queued)
  name: string;
  relation: string | null;
  kind: "guardian" | "authorised" | "one_day";
  caller: string | null;
  idTail?: string | null; // for a queued phone authorisation, released by name and ID tail
}

export function collectorsToday(p: Pupil, day: string): Collector[] {
  const out: Collector[] = [];
  for (const g of p.guardians ?? []) {
    if (g.may_collect) out.push({ id: g.guardian_id, name: g.name, relation: g.relation, kind: "guardian", caller: null });
  }
  for (const a of p.authorisations ?? []) {
    if (a.revoked || !within(day, a.valid_from, a.valid_to)) continue;
    out.push({ id: a.authorisation_id, name: a.name, relation: a.relation, kind: a.one_day ? "one_day" : "authorised", caller: a.caller });
  }
  return out;
}

export function restrictionsToday(p: Pupil, day: string): NonNullable<Pupil["restrictions"]> {
  return (p.restrictions ?? []).filter((r) => !r.lifted && within(day, r.valid_from, r.valid_to));
}

export function statementToday(p: Pupil, day: string): NonNullable<Pupil["statements"]>[number] | null {
  return (p.statements ?? []).find((s) => !s.withdrawn && within(day, s.valid_from, s.valid_to)
    && s.weekdays.includes(weekday(day))) ?? null;
}

const norm = (name: string) => name.normalize("NFKC").replace(/\s+/g, "");

/** Other pupils at this gate whom the same adult may collect today: siblings, released together. */
export function siblings(adult: Collector, pupilId: string, atGate: RosterPupil[], details: Map<string, Pupil>, day: string): RosterPupil[] {
  return atGate.filter((row) => {
    if (row.pupil_id === pupilId) return false;
    const d = details.get(row.pupil_id);
    return !!d && collectorsToday(d, day).some((c) => norm(c.name) === norm(adult.name))
      && !restrictionsToday(d, day).some((r) => norm(r.name) === norm(adult.name));
  });
}

export function atGate(row: RosterPupil, gateId: string): boolean {
  return row.status === "in_custody" && row.place?.id === gateId;
}

export function onTheWay(row: RosterPupil, gateId: string): boolean {
  return row.status === "not_handed_over" || row.status === "in_custody"
    ? row.pending?.place.id === gateId
    : false;
}

/** One-day authorisations phoned in while offline, still in the queue: they may collect by name. */
export function phonedIn(queue: Queued[], pupilId: string): Collector[] {
  return queue.flatMap((q) => (q.state !== "conflict" && q.command.kind === "phone_authorisation" && q.command.pupilId === pupilId
    ? [{ id: "", name: q.command.body.adult.name, relation: q.command.body.adult.relation ?? null, kind: "one_day" as const,
        caller: null, idTail: q.command.body.adult.id_tail ?? null }]
    : []));
}
