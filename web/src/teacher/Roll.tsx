// Roll call (点名) of one group: running counts; sign a pupil in with one tap, mark leave or
// absence, let one leave early with an adult on file, and write a care note for the group.
import { useEffect, useState } from "preact/hooks";
import { api, type Pupil, type RosterPupil, type Schemas, type School } from "../api/client";
import type { SignedIn } from "../device";
import { type MessageKey, t } from "../i18n";
import { clock } from "../time";
import { counts, type Group, markOf, withRole } from "./model";
import { Choice, Ticks } from "./Parts";
import { keyed, send, sendQueued, SESSION, useKey } from "./send";

export interface Acted {
  said: (ok: boolean, text: string, queued?: boolean) => void;
  patch: (state: Partial<RosterPupil> & { pupil_id: string }) => void;
}

interface Props extends Acted {
  me: SignedIn;
  school: School;
  group: Group;
  rows: RosterPupil[];
  detail: (id: string) => Promise<Pupil | null>;
}

const ORDER = ["not_arrived", "coming", "here", "leaving", "elsewhere", "absent", "gone"] as const;

export function Roll({ me, school, group, rows, detail, said, patch }: Props) {
  const c = counts(rows, group, me.staff_id);
  const [open, setOpen] = useState<{ id: string; what: "absence" | "early" } | null>(null);
  const [note, setNote] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const sorted = [...rows].sort((a, b) => ORDER.indexOf(markOf(a, group, me.staff_id)) - ORDER.indexOf(markOf(b, group, me.staff_id))
    || a.name.localeCompare(b.name, "zh-CN"));

  async function signIn(r: RosterPupil) {
    setBusy(r.pupil_id);
    const out = await sendQueued<Schemas["PupilStates"]>(
      { kind: "sign_in", body: { session: SESSION, pupil_ids: [r.pupil_id], place_id: group.group_id } }, [r.name]);
    setBusy(null);
    if (out.ok) {
      for (const s of out.data.pupils) patch(s);
      said(true, t("teacher.signed_in", { name: r.name }));
    } else if (out.queued) {
      // Here on the phone until it is sent: the roll counts the pupil as signed in by you.
      patch({ pupil_id: r.pupil_id, status: "in_custody", custodian: { staff_id: me.staff_id, name: me.name },
        place: { id: group.group_id, label: group.name, kind: "group" } });
      said(true, out.text, true);
    } else said(false, out.text);
  }

  const row = (r: RosterPupil, mark: (typeof ORDER)[number]) => (
    <li key={r.pupil_id} class={`roll-row mark-${mark}`} data-testid="roll-pupil" data-name={r.name}>
      <div class="roll-who">
        <span class="who">{r.name}</span>
        {mark !== "not_arrived" && <span class="rel">{r.class_label}</span>}
        <span class="mark" data-testid="mark">{markText(r, mark, school.timezone)}</span>
      </div>
      <div class="roll-actions">
        {mark === "not_arrived" && !r.pending && (
          <>
            <button type="button" class="primary" disabled={busy === r.pupil_id} data-testid="sign-in"
              aria-label={`${t("teacher.sign_in")} ${r.name}`} onClick={() => void signIn(r)}>{t("teacher.sign_in")}</button>
            <button type="button" class="ghost" data-testid="absence-open" aria-label={`${t("teacher.absence")} ${r.name}`}
              onClick={() => setOpen({ id: r.pupil_id, what: "absence" })}>{t("teacher.absence")}</button>
          </>
        )}
        {mark === "here" && (
          <button type="button" class="ghost" data-testid="early-open" aria-label={`${t("teacher.early")} ${r.name}`}
            onClick={() => setOpen({ id: r.pupil_id, what: "early" })}>{t("teacher.early")}</button>
        )}
      </div>
      {open?.id === r.pupil_id && open.what === "absence" && (
        <Absence row={r} onDone={(ok, text, queued) => { setOpen(null); said(ok, text, queued); }} patch={patch} />
      )}
      {open?.id === r.pupil_id && open.what === "early" && (
        <Early row={r} school={school} detail={detail} onClose={() => setOpen(null)}
          said={(ok, text, queued) => { if (ok) setOpen(null); said(ok, text, queued); }} patch={patch} />
      )}
    </li>
  );

  return (
    <section aria-labelledby="roll-title" data-testid="roll">
      <h2 id="roll-title">{t("teacher.roll.title", { group: group.name, room: group.room })}</h2>
      <dl class="tiles teacher-tiles" data-testid="roll-counts">
        <div><dt>{t("teacher.n.expected")}</dt><dd data-testid="n-expected">{c.expected}</dd></div>
        <div><dt>{t("teacher.n.here")}</dt><dd data-testid="n-here">{c.here + c.leaving}</dd></div>
        <div class={c.not_arrived ? "late" : ""}><dt>{t("teacher.n.not_arrived")}</dt><dd data-testid="n-not_arrived">{c.not_arrived + c.coming}</dd></div>
        <div><dt>{t("teacher.n.absent")}</dt><dd data-testid="n-absent">{c.absent}</dd></div>
        <div><dt>{t("teacher.n.away")}</dt><dd data-testid="n-away">{c.elsewhere + c.gone}</dd></div>
      </dl>
      {ORDER.map((m) => {
        const inSection = sorted.filter((r) => markOf(r, group, me.staff_id) === m);
        if (inSection.length === 0) return null;
        const classes = m === "not_arrived" ? [...new Set(inSection.map((r) => r.class_label ?? ""))] : [null];
        return (
          <section key={m} class="roll-section" aria-labelledby={`roll-${m}`} data-testid={`roll-${m}`}>
            <h3 id={`roll-${m}`}>{t(`teacher.section.${m}` as MessageKey)} <span class="count">{inSection.length}</span></h3>
            {classes.map((label) => (
              <div key={label ?? m}>
                {label !== null && <h4 class="roll-class">{label}</h4>}
                <ul class="roll">
                  {inSection.filter((r) => label === null || (r.class_label ?? "") === label).map((r) => row(r, m))}
                </ul>
              </div>
            ))}
          </section>
        );
      })}
      {note ? (
        <CareNote group={group} pupils={rows.filter((r) => markOf(r, group, me.staff_id) === "here")}
          onClose={() => setNote(false)} said={(ok, text) => { if (ok) setNote(false); said(ok, text); }} />
      ) : (
        <button type="button" class="ghost wide" data-testid="note-open" onClick={() => setNote(true)}>{t("teacher.note.open")}</button>
      )}
    </section>
  );
}

function markText(r: RosterPupil, mark: string, tz: string): string {
  switch (mark) {
    case "here": return "";
    case "coming": return t("teacher.mark.coming", { from: r.custodian?.name ?? "" });
    case "leaving": return t("teacher.mark.leaving", { to: r.pending?.to.name ?? "", place: r.pending?.place.label ?? "" });
    case "elsewhere": return t("teacher.mark.elsewhere", { place: r.place?.label ?? "", by: r.custodian?.name ?? "" });
    case "absent": return t(r.with_leave ? "teacher.mark.leave" : "teacher.mark.absent");
    case "gone":
      if (r.status === "passed_on") return t("state.passed_on");
      return r.gone ? t(`gone.${r.gone.how}` as MessageKey, { time: clock(r.gone.at, tz), adult: String(r.gone.adult?.name ?? "") }) : t("place.gone");
    default: return r.pending ? t("teacher.mark.offered_elsewhere", { to: r.pending.to.name }) : "";
  }
}

export function Absence({ row, onDone, onBack, patch }: {
  row: RosterPupil; onDone: (ok: boolean, text: string, queued?: boolean) => void; onBack?: () => void;
} & Pick<Acted, "patch">) {
  const [leave, setLeave] = useState<boolean | null>(null);
  const [reason, setReason] = useState("");
  async function submit() {
    if (leave === null) return;
    const out = await sendQueued<Schemas["PupilState"]>(
      { kind: "absence", body: { session: SESSION, pupil_id: row.pupil_id, with_leave: leave, reason: reason.trim() } }, [row.name]);
    if (out.ok) {
      patch(out.data);
      onDone(true, t(leave ? "teacher.absence.leave_ack" : "teacher.absence.absent_ack", { name: row.name }));
    } else if (out.queued) {
      patch({ pupil_id: row.pupil_id, status: "absent", with_leave: leave });
      onDone(true, out.text, true);
    } else onDone(false, out.text);
  }
  return (
    <div class="sheet" data-testid="absence">
      <div class="choices">
        <Choice chosen={leave === true} onClick={() => setLeave(true)} testid="absence-leave">{t("teacher.absence.leave")}</Choice>
        <Choice chosen={leave === false} onClick={() => setLeave(false)} testid="absence-no-leave">{t("teacher.absence.no_leave")}</Choice>
      </div>
      <label for={`reason-${row.pupil_id}`}>{t("teacher.absence.reason")}</label>
      <input id={`reason-${row.pupil_id}`} value={reason} data-testid="absence-reason" maxLength={500}
        onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      <div class="row-actions">
        <button type="button" class="ghost" onClick={onBack ?? (() => onDone(true, ""))}>{t("refuse.back")}</button>
        <button type="button" class="primary" disabled={leave === null} data-testid="absence-submit" onClick={() => void submit()}>
          {t("teacher.absence.submit")}</button>
      </div>
    </div>
  );
}

function Early({ row, school, detail, onClose, said, patch }: {
  row: RosterPupil; school: School; detail: (id: string) => Promise<Pupil | null>; onClose: () => void;
} & Acted) {
  const [file, setFile] = useState<Pupil | null | undefined>(undefined);
  const [collector, setCollector] = useState<string | null>(null);
  const leaders = withRole(school, "duty_leader");
  const [approver, setApprover] = useState<string | null>(leaders[0]?.staff_id ?? null);
  const [reason, setReason] = useState("");
  const [informed, setInformed] = useState(false);
  useEffect(() => {
    void detail(row.pupil_id).then((f) => setFile(f));
  }, [row.pupil_id, detail]);
  const collectors = (file?.guardians ?? []).filter((g) => g.may_collect);
  async function submit() {
    if (!collector || !approver) return;
    const out = await sendQueued<Schemas["PupilState"]>({ kind: "early_departure", body: { session: SESSION,
      pupil_id: row.pupil_id, collector_id: collector, approved_by_staff_id: approver, reason: reason.trim(),
      homeroom_informed: informed } }, [row.name]);
    if (out.ok) {
      patch(out.data);
      said(true, t("teacher.early.ack", { name: row.name }));
    } else said(!!out.queued, out.text, out.queued);
  }
  return (
    <div class="sheet" data-testid="early">
      {file === undefined && <p class="hint">{t("card.loading")}</p>}
      {file === null && <p class="error">{t("card.no_file")}</p>}
      {file && collectors.length === 0 && <p class="error">{t("card.no_collectors")}</p>}
      {collectors.length > 0 && <p class="label">{t("teacher.early.who")}</p>}
      <div class="choices">
        {collectors.map((g) => (
          <Choice key={g.guardian_id} chosen={collector === g.guardian_id} onClick={() => setCollector(g.guardian_id)} testid="early-collector">
            <span class="who">{g.name}</span><span class="rel">{g.relation}</span>
          </Choice>
        ))}
      </div>
      <p class="label">{t("teacher.early.approver")}</p>
      <div class="choices">
        {leaders.map((s) => (
          <Choice key={s.staff_id} chosen={approver === s.staff_id} onClick={() => setApprover(s.staff_id)} testid="early-approver">{s.name}</Choice>
        ))}
      </div>
      <label for={`early-${row.pupil_id}`}>{t("teacher.early.reason")}</label>
      <input id={`early-${row.pupil_id}`} value={reason} data-testid="early-reason" maxLength={500}
        onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      <label class="tick">
        <input type="checkbox" checked={informed} data-testid="early-informed"
          onChange={(e) => setInformed((e.target as HTMLInputElement).checked)} />
        <span>{t("teacher.early.informed")}</span>
      </label>
      <div class="row-actions">
        <button type="button" class="ghost" onClick={onClose}>{t("refuse.back")}</button>
        <button type="button" class="primary" disabled={!collector || !approver || !reason.trim() || !informed}
          data-testid="early-submit" onClick={() => void submit()}>{t("teacher.early.submit")}</button>
      </div>
    </div>
  );
}

function CareNote({ group, pupils, onClose, said }: {
  group: Group; pupils: RosterPupil[]; onClose: () => void; said: (ok: boolean, text: string) => void;
}) {
  const [text, setText] = useState("");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const k = useKey();
  async function submit() {
    const out = await send(() => api.POST("/v1/care-notes", { body: {
      session: SESSION, group_id: group.group_id, kind: "note", text: text.trim(), actions_taken: "",
      guardian_notified: false, reported_to_leadership: false, pupil_ids: [...chosen] }, ...keyed(k.key()) }), k.done);
    said(out.ok, out.ok ? t("teacher.note.ack") : out.text);
  }
  return (
    <div class="sheet panel" data-testid="note">
      <h3>{t("teacher.note.title")}</h3>
      <label for="note-text">{t("teacher.note.text")}</label>
      <textarea id="note-text" rows={3} maxLength={2000} value={text} data-testid="note-text"
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      {pupils.length > 0 && <Ticks pupils={pupils} chosen={chosen} onChange={setChosen} testid="note-pupil" legend={t("teacher.note.pupils")} />}
      <div class="row-actions">
        <button type="button" class="ghost" onClick={onClose}>{t("refuse.back")}</button>
        <button type="button" class="primary" disabled={!text.trim()} data-testid="note-submit" onClick={() => void submit()}>{t("teacher.note.submit")}</button>
      </div>
    </div>
  );
}
