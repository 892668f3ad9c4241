// The duty leader's duty (值班), on the phone or the board: today's duty roster, a patrol round
// (巡查) in a few taps, and clearing the school (清校), which says what still blocks it. The admin
// sets or changes the roster on the same screen (/app/#duty).
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, type Problem, problemCode, type Schemas, type School } from "../api/client";
import { device, type SignedIn } from "../device";
import { type MessageKey, t } from "../i18n";
import { keyed, send, SESSION, useKey } from "../teacher/send";
import { isoDay } from "../time";
import { acceptLanguage, useSchoolNow } from "../board/live";
import { Shell } from "../board/Shell";

type DutyDay = Schemas["DutyDayOut"];
type Blocker = Schemas["Blocker"];
type Staff = Schemas["StaffOut"];

function hhmm(iso: string, tz: string): string {
  return new Intl.DateTimeFormat("zh-CN", { timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false })
    .format(new Date(iso));
}

function kindLabel(b: Blocker): string {
  if (b.kind === "pupil") return b.name;
  const key = `${b.kind === "alert" ? "alert.kind" : "teacher.kind"}.${b.name}` as MessageKey;
  return t(key);
}

function Roster({ duty }: { duty: DutyDay | null }) {
  const roster = duty?.roster;
  if (!roster) return <p class="hint" data-testid="duty-no-roster">{t("duty.no_roster")}</p>;
  return (
    <dl class="duty-roster" data-testid="duty-roster">
      <div><dt>{t("duty.leaders")}</dt>
        <dd data-testid="duty-leaders">{roster.leaders.map((p) => p.name).join(t("list.separator"))}</dd></div>
      <div><dt>{t("duty.guards")}</dt>
        <dd data-testid="duty-guards">{roster.guards.map((g) => g.gate ? t("duty.guard_at", { name: g.name, gate: g.gate }) : g.name).join(t("list.separator"))}</dd></div>
      {roster.replaces !== null && <p class="hint">{t("duty.changed", { n: roster.roster_no })}</p>}
    </dl>
  );
}

function RosterForm({ school, duty, day, onSaved }: {
  school: School; duty: DutyDay | null; day: string; onSaved: (d: DutyDay) => void;
}) {
  const [staff, setStaff] = useState<Staff[]>([]);
  const now = duty?.roster;
  const [leaders, setLeaders] = useState<string[]>(now ? now.leaders.map((p) => p.staff_id) : ["", ""]);
  const [guards, setGuards] = useState<string[]>(now ? now.guards.map((g) => g.staff_id) : ["", ""]);
  const [gates, setGates] = useState<string[]>(now ? now.guards.map((g) => g.gate_id ?? "") : ["", ""]);
  const [said, setSaid] = useState<{ ok: boolean; text: string } | null>(null);
  const k = useKey();
  useEffect(() => {
    void api.GET("/v1/staff").then(({ data }) => setStaff((data ?? []).filter((s) => s.active)));
  }, []);
  // A paired tablet or board holds a role too, but a roster names people.
  const of = (role: string) => staff.filter((s) => s.roles.includes(role) && !s.staff_id.startsWith("device-"));
  const pick = (list: string[], set: (v: string[]) => void, i: number) => (e: Event) => {
    const next = [...list];
    next[i] = (e.target as HTMLSelectElement).value;
    set(next);
  };
  async function save() {
    const out = await send(() => api.PUT("/v1/duty/roster", { body: {
      day, session: SESSION, leader_ids: leaders, note: "",
      guards: guards.map((g, i) => ({ staff_id: g, gate_id: gates[i] || null })),
      replaces: duty?.roster?.roster_no ?? null }, ...keyed(k.key()) }), k.done);
    if (out.ok) {
      onSaved(out.data);
      setSaid({ ok: true, text: t("duty.roster_saved") });
    } else setSaid({ ok: false, text: out.text });
  }
  const ready = leaders.every(Boolean) && guards.every(Boolean);
  return (
    <section class="panel" data-testid="roster-form" aria-labelledby="roster-form-title">
      <h2 id="roster-form-title">{t("duty.set_roster")}</h2>
      {[0, 1].map((i) => (
        <label key={`l${i}`}>{t("duty.leader_n", { n: i + 1 })}
          <select value={leaders[i]} data-testid={`roster-leader-${i}`} onChange={pick(leaders, setLeaders, i)}>
            <option value="">{t("duty.choose")}</option>
            {of("duty_leader").map((s) => <option key={s.staff_id} value={s.staff_id}>{s.name}</option>)}
          </select>
        </label>
      ))}
      {[0, 1].map((i) => (
        <div key={`g${i}`} class="duty-guard">
          <label>{t("duty.guard_n", { n: i + 1 })}
            <select value={guards[i]} data-testid={`roster-guard-${i}`} onChange={pick(guards, setGuards, i)}>
              <option value="">{t("duty.choose")}</option>
              {of("guard").map((s) => <option key={s.staff_id} value={s.staff_id}>{s.name}</option>)}
            </select>
          </label>
          <label>{t("duty.gate")}
            <select value={gates[i]} data-testid={`roster-gate-${i}`} onChange={pick(gates, setGates, i)}>
              <option value="">{t("duty.any_gate")}</option>
              {school.gates.map((g) => <option key={g.gate_id} value={g.gate_id}>{g.name}</option>)}
            </select>
          </label>
        </div>
      ))}
      <button type="button" class="primary big" disabled={!ready} data-testid="roster-save" onClick={() => void save()}>
        {duty?.roster ? t("duty.change_roster") : t("duty.save_roster")}</button>
      {said && <p class={`result ${said.ok ? "result-ok" : "result-bad"}`} role="status" data-testid="roster-said">{said.text}</p>}
    </section>
  );
}

function PatrolForm({ school, onSaved }: { school: School; onSaved: () => void }) {
  const [place, setPlace] = useState("");
  const [seen, setSeen] = useState("");
  const [notes, setNotes] = useState("");
  const [said, setSaid] = useState<{ ok: boolean; text: string } | null>(null);
  const k = useKey();
  const places = [...school.groups.map((g) => g.name), ...school.gates.map((g) => g.name)];
  async function save() {
    const out = await send(() => api.POST("/v1/duty/patrols", { body: {
      session: SESSION, place: place.trim(), seen: seen.trim(), notes: notes.trim() }, ...keyed(k.key()) }), k.done);
    if (out.ok) {
      setSaid({ ok: true, text: t("duty.patrol_saved", { place: out.data.place }) });
      setSeen("");
      setNotes("");
      onSaved();
    } else setSaid({ ok: false, text: out.text });
  }
  return (
    <section class="panel" data-testid="patrol-form" aria-labelledby="patrol-title">
      <h2 id="patrol-title">{t("duty.patrol")}</h2>
      <label for="patrol-place">{t("duty.patrol_place")}</label>
      <input id="patrol-place" list="patrol-places" value={place} maxLength={100} data-testid="patrol-place"
        onInput={(e) => setPlace((e.target as HTMLInputElement).value)} />
      <datalist id="patrol-places">{places.map((p) => <option key={p} value={p} />)}</datalist>
      <label for="patrol-seen">{t("duty.patrol_seen")}</label>
      <textarea id="patrol-seen" rows={2} maxLength={1000} value={seen} data-testid="patrol-seen"
        onInput={(e) => setSeen((e.target as HTMLTextAreaElement).value)} />
      <label for="patrol-notes">{t("duty.patrol_notes")}</label>
      <textarea id="patrol-notes" rows={2} maxLength={1000} value={notes} data-testid="patrol-notes"
        onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
      <button type="button" class="primary big" disabled={!place.trim() || !seen.trim()} data-testid="patrol-save"
        onClick={() => void save()}>{t("duty.patrol_save")}</button>
      {said && <p class={`result ${said.ok ? "result-ok" : "result-bad"}`} role="status" data-testid="patrol-said">{said.text}</p>}
    </section>
  );
}

/** What blocks clearing: each alert and incident, and the pupils still held, by where they are. */
function Blockers({ blockers }: { blockers: Blocker[] }) {
  const others = blockers.filter((b) => b.kind !== "pupil");
  const held = new Map<string, { code: string; place: string | null; names: string[] }>();
  for (const b of blockers) {
    if (b.kind !== "pupil") continue;
    const at = `${b.code}|${b.place ?? ""}`;
    const group = held.get(at) ?? { code: b.code, place: b.place, names: [] };
    group.names.push(b.name);
    held.set(at, group);
  }
  const what = (b: Blocker) => b.kind === "alert" ? b.detail
    : [t(`duty.why.${b.code}` as MessageKey), b.place].filter(Boolean).join(" · ");
  return (
    <div class="conflicts" role="alert" data-testid="blockers">
      <p>{t("duty.blocked", { n: blockers.length })}</p>
      <ul>
        {others.map((b) => (
          <li key={`${b.kind}-${b.id}`} data-testid="blocker" data-kind={b.kind}>
            <strong>{t("duty.blocker.head", { what: t(`duty.blocker.${b.kind}` as MessageKey), label: kindLabel(b) })}</strong>
            <span>{what(b)}</span>
          </li>
        ))}
        {[...held].map(([at, g]) => (
          <li key={at} data-testid="blocker-pupils" data-count={g.names.length}>
            <details class="blockers-pupils">
              <summary>{t("duty.pupils_held", { n: g.names.length,
                detail: [t(`status.${g.code}` as MessageKey), g.place].filter(Boolean).join(" · ") })}</summary>
              <span data-testid="blocker-names">{g.names.join(t("list.separator"))}</span>
            </details>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Clearing({ duty, tz, onCleared }: { duty: DutyDay | null; tz: string; onCleared: (d: DutyDay) => void }) {
  const [blockers, setBlockers] = useState<Blocker[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const k = useKey();
  const cleared = duty?.cleared;
  async function clear() {
    setError(null);
    try {
      const { data, error: problem, response } = await api.POST("/v1/duty/clearing", {
        body: { session: SESSION, note: "" }, headers: { ...keyed(k.key()).headers, ...acceptLanguage() } });
      k.done();
      if (data && response.ok) {
        setBlockers(null);
        onCleared(data);
        return;
      }
      const p = (problem ?? null) as Problem | null;
      if (p && problemCode(p) === "not-clear") setBlockers((p.errors ?? []) as Blocker[]);
      else setError(t("error.server", { status: response.status }));
    } catch {
      setError(t("teacher.offline"));
    }
  }
  return (
    <section class="panel" data-testid="clearing" aria-labelledby="clearing-title">
      <h2 id="clearing-title">{t("duty.clearing")}</h2>
      {cleared ? (
        <p class="result result-ok" data-testid="cleared">
          {t("duty.cleared", { time: hhmm(cleared.at, tz), name: String(cleared.by.staff_name ?? "") })}</p>
      ) : (
        <button type="button" class="danger big" data-testid="clear-school" onClick={() => void clear()}>
          {t("duty.clear")}</button>
      )}
      {blockers && <Blockers blockers={blockers} />}
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}

/** The duty part of the duty leader's screen (and the admin's roster form). */
export function DutyPanel({ me, school }: { me: SignedIn; school: School }) {
  const [duty, setDuty] = useState<DutyDay | null>(null);
  const [failed, setFailed] = useState(false);
  const tz = school.timezone;
  const day = isoDay(new Date(), tz);
  const load = useCallback(async () => {
    const { data, response } = await api.GET("/v1/duty", { params: { query: { session: SESSION } } });
    if (data) setDuty(data);
    setFailed(!response.ok && response.status !== 422);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const leader = me.role === "duty_leader" && !me.device;
  const [pdfError, setPdfError] = useState<string | null>(null);
  const downloadPdf = async () => {
    setPdfError(null);
    try {
      const response = await fetch(`/v1/duty/log/export?session=${SESSION}&format=pdf`, {
        headers: { Authorization: `Bearer ${device.token() ?? ""}`, "X-Device-Id": device.id() } });
      if (!response.ok) {
        setPdfError(t("error.server", { status: response.status }));
        return;
      }
      // Saved as a file (to print or pass on), never opened in place of the screen.
      const url = URL.createObjectURL(new Blob([await response.arrayBuffer()], { type: "application/octet-stream" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `duty-log-${day}.pdf`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch {
      setPdfError(t("teacher.offline"));
    }
  };
  return (
    <div class="duty-body" data-testid="duty">
      <section class="panel" aria-labelledby="duty-roster-title">
        <h2 id="duty-roster-title">{t("duty.today", { day })}</h2>
        <Roster duty={duty} />
        {duty && duty.patrols.length > 0 && (
          <>
            <h3>{t("duty.patrols", { n: duty.patrols.length })}</h3>
            <ul class="duty-patrols" data-testid="patrols">
              {duty.patrols.map((p) => (
                <li key={p.seq} data-testid="patrol">
                  <strong>{hhmm(p.at, tz)} · {p.place}</strong> {p.seen}{p.notes ? t("duty.patrol.notes_shown", { notes: p.notes }) : ""}
                  <span class="hint"> · {String(p.by.staff_name ?? "")}</span>
                </li>
              ))}
            </ul>
          </>
        )}
        {failed && <p class="error" role="alert">{t("duty.unavailable")}</p>}
        {(me.role === "admin" || me.role === "duty_leader") && (
          <div class="row-actions">
            <button type="button" class="ghost" data-testid="duty-log-pdf" onClick={() => void downloadPdf()}>{t("duty.log_pdf")}</button>
          </div>
        )}
        {pdfError && <p class="error" role="alert">{pdfError}</p>}
      </section>
      {me.role === "admin" && <RosterForm key={duty?.version ?? 0} school={school} duty={duty} day={day} onSaved={setDuty} />}
      {leader && <PatrolForm school={school} onSaved={() => void load()} />}
      {leader && <Clearing duty={duty} tz={tz} onCleared={setDuty} />}
    </div>
  );
}

/** The admin's duty screen (/app/#duty): the roster form beside today's duty. */
export function DutyScreen({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const live = useSchoolNow();
  return (
    <Shell me={me} title={t("duty.title")} live={live} onSignOut={onSignOut}>
      {live.school ? <DutyPanel me={me} school={live.school} /> : <p class="hint">{t("net.connecting")}</p>}
    </Shell>
  );
}
