// What a teacher's phone shows, worked out from today's roster and the school: the groups they
// run, the classes they are homeroom teacher of, the handovers waiting for them, and the counts.
import type { RosterPupil, School } from "../api/client";
import { weekday } from "../time";

export type Group = School["groups"][number];
export type Staff = School["staff"][number];

/** The pupil's state as the roll call says it. */
export type Mark = "here" | "coming" | "not_arrived" | "absent" | "elsewhere" | "leaving" | "gone";

export interface Offer {
  handoverId: string;
  kind: string;
  from: string | null; // the giver, when this screen knows them
  to: { staff_id: string; name: string };
  place: { id: string; label: string; kind: string };
  pupils: RosterPupil[];
}

/** The groups this teacher runs that meet today (a club only on its weekdays). */
export function myGroups(school: School, staffId: string, day: string): Group[] {
  const wd = day ? weekday(day) : 0;
  return school.groups.filter((g) => g.teacher_id === staffId && (g.kind === "homework" || g.weekdays.includes(wd)));
}

export function myClasses(school: School, staffId: string): School["classes"] {
  return school.classes.filter((c) => c.homeroom_teacher_id === staffId);
}

export function clubsToday(school: School, day: string): Group[] {
  const wd = day ? weekday(day) : 0;
  return school.groups.filter((g) => g.kind === "club" && g.weekdays.includes(wd) && g.teacher_id);
}

export function staffName(school: School, id: string | null | undefined): string {
  return school.staff.find((s) => s.staff_id === id)?.name ?? "";
}

export function withRole(school: School, role: string): Staff[] {
  return school.staff.filter((s) => s.active && s.roles.includes(role));
}

export function mine(rows: RosterPupil[], staffId: string): RosterPupil[] {
  return rows.filter((r) => r.status === "in_custody" && r.custodian?.staff_id === staffId && !r.pending);
}

/** Handovers offered to this teacher and not yet confirmed, one per handover. */
export function offersTo(rows: RosterPupil[], staffId: string): Offer[] {
  return offers(rows.filter((r) => r.pending?.to.staff_id === staffId));
}

/** Handovers this teacher offered (the pupils are still theirs until the receiver confirms). */
export function offersFrom(rows: RosterPupil[], staffId: string): Offer[] {
  return offers(rows.filter((r) => r.pending && r.custodian?.staff_id === staffId));
}

function offers(rows: RosterPupil[]): Offer[] {
  const by = new Map<string, Offer>();
  for (const r of rows) {
    const p = r.pending!;
    const o = by.get(p.handover_id) ?? { handoverId: p.handover_id, kind: p.kind, from: r.custodian?.name ?? null,
      to: p.to, place: p.place, pupils: [] };
    o.pupils.push(r);
    by.set(p.handover_id, o);
  }
  return [...by.values()];
}

/** The group's roll: its own pupils, and any visitor in the teacher's custody there. */
export function roll(rows: RosterPupil[], group: Group, staffId: string): RosterPupil[] {
  return rows.filter((r) => (group.kind === "homework" && r.homework_group_id === group.group_id)
    || r.place?.id === group.group_id || r.pending?.place.id === group.group_id
    || (r.custodian?.staff_id === staffId && r.status === "in_custody" && r.place?.id === group.group_id));
}

export function markOf(r: RosterPupil, group: Group, staffId: string): Mark {
  if (r.status === "gone" || r.status === "passed_on") return "gone";
  if (r.status === "absent") return "absent";
  if (r.pending) {
    if (r.pending.to.staff_id === staffId) return "coming";
    if (r.custodian?.staff_id === staffId) return "leaving";
    return r.pending.place.id === group.group_id ? "coming" : "not_arrived";
  }
  if (r.status === "in_custody") return r.custodian?.staff_id === staffId && r.place?.id === group.group_id ? "here" : "elsewhere";
  return "not_arrived";
}

export type Counts = Record<Mark, number> & { expected: number };

export function counts(rows: RosterPupil[], group: Group, staffId: string): Counts {
  const c: Counts = { expected: 0, here: 0, coming: 0, not_arrived: 0, absent: 0, elsewhere: 0, leaving: 0, gone: 0 };
  for (const r of rows) {
    if (group.kind !== "homework" || r.homework_group_id === group.group_id) c.expected += 1;
    c[markOf(r, group, staffId)] += 1;
  }
  return c;
}

/** A class's pupils not yet handed over, by the homework group each goes to. */
export function classHandovers(school: School, rows: RosterPupil[], classId: string):
    { group: Group | null; pupils: RosterPupil[] }[] {
  const waiting = rows.filter((r) => r.class_id === classId && r.status === "not_handed_over" && !r.pending);
  const by = new Map<string, RosterPupil[]>();
  for (const r of waiting) by.set(r.homework_group_id ?? "", [...(by.get(r.homework_group_id ?? "") ?? []), r]);
  return [...by.entries()].map(([gid, pupils]) => ({ group: school.groups.find((g) => g.group_id === gid) ?? null, pupils }));
}
