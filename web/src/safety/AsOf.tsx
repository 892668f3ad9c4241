// The school as it stood at a past minute (回看): a session, a time slider over its afternoon
// (minute steps, or a time typed), the roster rebuilt from the log up to that minute (who held
// each pupil, where), filtered by group or gate; a pupil → who had custody at that minute and
// the events that prove it, and their whole day; a custodian → their shift.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, type School, type Schemas } from "../api/client";
import { known, t } from "../i18n";
import { zh } from "../i18n/zh";
import { clock, isoDay, minutesNow, minutesOf, serverNow } from "../time";

type RosterAsOf = Schemas["RosterAsOf"];
type CustodyAt = Schemas["CustodyAt"];
type Entry = Schemas["TimelineEntry"];
type AsOfPupil = RosterAsOf["pupils"][number];

const DEBOUNCE_MS = 300;
const BEFORE_START = 60; // minutes before the session starts: lessons end, classes are handed over
const AFTER_LAST = 120; // minutes after the last dismissal: late collections

export function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}

/** The slider's range for a session: from before it starts to after its last dismissal; today,
 * up to now (however late: a late collection), and never past it. */
export function span(school: School, session: string, day: string, tz: string): [number, number] {
  const s = school.schedule.sessions.find((x) => x.key === session) ?? school.schedule.sessions[0];
  const times = Object.values(s?.dismissals ?? {}).map(minutesOf);
  const start = Math.max(0, minutesOf(s?.start ?? "16:00") - BEFORE_START);
  const end = Math.min(23 * 60 + 59, Math.max(start, ...times) + AFTER_LAST);
  if (day !== isoDay(serverNow(), tz)) return [start, end];
  const now = minutesNow(tz);
  return [Math.min(start, Math.max(0, now - BEFORE_START)), now];
}

function name(x: unknown): string {
  const r = x as { name?: string | null; label?: string | null; staff_name?: string | null } | null | undefined;
  return r?.label ?? r?.name ?? r?.staff_name ?? "";
}

/** One stored event: when (server, and the device's time when it differs), what, who, where,
 * and where it is in the log. */
function whatText(e: Entry): string {
  if (e.subject.kind === "incident") return known("incident.step", e.what === "action_recorded" ? "action" : e.what, "incident.step.other");
  return `chain.${e.what}` in zh ? known("chain", e.what, "chain.other") : known("asof.what", e.what, "asof.what.other");
}

export function EntryLine({ e, tz, testid = "history-entry", names }: {
  e: Entry; tz: string; testid?: string; names?: Map<string, string>;
}) {
  const device = e.device_time && e.at && clock(e.device_time, tz) !== clock(e.at, tz) ? e.device_time : null;
  const pupil = typeof e.subject.pupil_id === "string" ? names?.get(e.subject.pupil_id) : undefined;
  return (
    <li data-testid={testid} data-what={e.what} data-subject={String(e.subject.kind ?? "")} data-position={e.position ?? ""}>
      <time>{e.at ? clock(e.at, tz) : ""}</time>{" "}
      {pupil && <>{pupil} · </>}
      <strong>{whatText(e)}</strong>
      {e.who?.name && <> · {t("timeline.by", { name: e.who.name })}</>}
      {e.where && <> · {t("timeline.at", { place: name(e.where) })}</>}
      {device && <span class="sub"> · {t("asof.device_time", { time: clock(device, tz) })}</span>}
      <span class="sub" title={`${e.event} ${e.aggregate_id} v${e.version}`}> · {t("asof.position", { position: e.position ?? "?" })}</span>
    </li>
  );
}

function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return settled;
}

function Problem({ status }: { status: number }) {
  return <p class="error" role="alert">{t("error.server", { status })}</p>;
}

/** A pupil's whole day, or a staff member's shift, as a timeline of stored events. */
function DayTimeline({ kind, id, day, tz, title }: {
  kind: "pupil" | "staff"; id: string; day: string; tz: string; title: string;
}) {
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [failed, setFailed] = useState<number | null>(null);
  useEffect(() => {
    let gone = false;
    setEntries(null);
    setFailed(null);
    const call = kind === "pupil"
      ? api.GET("/v1/pupils/{pupil_id}/day", { params: { path: { pupil_id: id }, query: { day } } })
      : api.GET("/v1/staff/{staff_id}/shift", { params: { path: { staff_id: id }, query: { day } } });
    void call.then(({ data, response }) => {
      if (gone) return;
      if (data) setEntries(data.entries);
      else setFailed(response.status);
    });
    return () => {
      gone = true;
    };
  }, [kind, id, day]);
  return (
    <section class="panel" data-testid={kind === "pupil" ? "pupil-day" : "staff-shift"}>
      <h3>{title}</h3>
      {failed !== null && <Problem status={failed} />}
      {entries === null && failed === null && <p class="hint" aria-busy="true">{t("asof.loading")}</p>}
      {entries !== null && entries.length === 0 && <p class="hint">{t("timeline.empty")}</p>}
      <ol class="history">{(entries ?? []).map((e) => <EntryLine key={`${e.aggregate_id}/${e.version}`} e={e} tz={tz} />)}</ol>
    </section>
  );
}

function Custody({ pupil, at, session, tz, day, onStaff }: {
  pupil: AsOfPupil; at: string; session: string; tz: string; day: string; onStaff: (id: string, name: string) => void;
}) {
  const [found, setFound] = useState<CustodyAt | null>(null);
  const [failed, setFailed] = useState<number | null>(null);
  const [wholeDay, setWholeDay] = useState(false);
  useEffect(() => {
    let gone = false;
    setFound(null);
    setFailed(null);
    void api.GET("/v1/pupils/{pupil_id}/custody", {
      params: { path: { pupil_id: pupil.pupil_id }, query: { at, session } },
    }).then(({ data, response }) => {
      if (gone) return;
      if (data) setFound(data);
      else setFailed(response.status);
    });
    return () => {
      gone = true;
    };
  }, [pupil.pupil_id, at, session]);
  const minute = at.slice(11, 16);
  return (
    <article class="card" data-testid="custody-at">
      <h2>{t("asof.custody.title", { name: pupil.name, time: minute })}</h2>
      {failed !== null && <Problem status={failed} />}
      {found === null && failed === null && <p class="hint" aria-busy="true">{t("asof.loading")}</p>}
      {found && (
        <>
          <p class="state" data-testid="custody-answer" data-status={found.status}>
            {found.custodian
              ? t("asof.custody.held", { name: found.custodian.name, place: found.place?.label ?? "—" })
              : known("status", found.status, "status.other")}
          </p>
          {found.custodian && (
            <button type="button" class="ghost" data-testid="custodian-shift"
              onClick={() => onStaff(found.custodian!.staff_id, found.custodian!.name)}>
              {t("asof.shift.open", { name: found.custodian.name })}
            </button>
          )}
          <h3>{t("asof.proof")}</h3>
          <ol class="history" data-testid="custody-proof">
            {found.before
              ? <EntryLine e={found.before} tz={tz} testid="proof-before" />
              : <li class="hint">{t("asof.proof.none_before")}</li>}
            {found.after
              ? <EntryLine e={found.after} tz={tz} testid="proof-after" />
              : <li class="hint">{t("asof.proof.none_after")}</li>}
          </ol>
        </>
      )}
      <button type="button" class="secondary" data-testid="pupil-day-open" aria-expanded={wholeDay}
        onClick={() => setWholeDay(!wholeDay)}>{t("asof.day.open")}</button>
      {wholeDay && <DayTimeline kind="pupil" id={pupil.pupil_id} day={day} tz={tz}
        title={t("asof.day.title", { name: pupil.name })} />}
    </article>
  );
}

/** An incident's own steps interleaved, in log order, with the custody chains of the pupils
 * involved that day and the duty shifts around it. */
export function IncidentTimeline({ incidentId, tz, names }: { incidentId: string; tz: string; names: Map<string, string> }) {
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [failed, setFailed] = useState<number | null>(null);
  useEffect(() => {
    let gone = false;
    void api.GET("/v1/incidents/{incident_id}/timeline", { params: { path: { incident_id: incidentId } } }).then(({ data, response }) => {
      if (gone) return;
      if (data) setEntries(data.entries);
      else setFailed(response.status);
    });
    return () => {
      gone = true;
    };
  }, [incidentId]);
  return (
    <section data-testid="incident-timeline">
      {failed !== null && <Problem status={failed} />}
      {entries === null && failed === null && <p class="hint" aria-busy="true">{t("asof.loading")}</p>}
      <ol class="history">
        {(entries ?? []).map((e) => <EntryLine key={`${e.aggregate_id}/${e.version}`} e={e} tz={tz} names={names} />)}
      </ol>
    </section>
  );
}

export function AsOf({ school, tz }: { school: School; tz: string }) {
  const sessions = school.schedule.sessions;
  const [session, setSession] = useState(sessions.find((s) => s.key === "after_school")?.key ?? sessions[0]?.key ?? "after_school");
  // Today once its afternoon has begun; before that, the day before.
  const [day, setDay] = useState(() => {
    const today = isoDay(serverNow(), tz);
    const yesterday = isoDay(new Date(serverNow().getTime() - 86400000), tz);
    return minutesNow(tz) < span(school, session, yesterday, tz)[0] ? yesterday : today;
  });
  const [lo, hi] = span(school, session, day, tz);
  const [minute, setMinute] = useState(() => Math.min(hi, Math.max(lo, minutesNow(tz))));
  const [filter, setFilter] = useState("");
  const [found, setFound] = useState<RosterAsOf | null>(null);
  const [answered, setAnswered] = useState(""); // what the roster shown answers: minute, session, filter
  const [loading, setLoading] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const [picked, setPicked] = useState<AsOfPupil | null>(null);
  const [staff, setStaff] = useState<{ id: string; name: string } | null>(null);
  const clamped = Math.min(hi, Math.max(lo, minute));
  const settled = useDebounced(clamped, DEBOUNCE_MS);
  const at = `${day}T${hhmm(settled)}`;
  const wanted = useRef(0);

  useEffect(() => {
    const ticket = ++wanted.current;
    const controller = new AbortController();
    const [kind, id] = filter.split(":");
    setLoading(true);
    setFailed(null);
    void api.GET("/v1/roster/as-of", {
      params: { query: { at, session, ...(kind === "group" ? { group_id: id } : {}), ...(kind === "gate" ? { gate_id: id } : {}) } },
      signal: controller.signal,
    }).then(({ data, error, response }) => {
      if (ticket !== wanted.current) return; // a later minute was asked meanwhile
      setLoading(false);
      if (data) {
        setFound(data);
        setAnswered(`${at}|${session}|${filter}`);
      } else setFailed((error as { detail?: string } | undefined)?.detail ?? t("error.server", { status: response.status }));
    }, () => {
      if (ticket === wanted.current) setLoading(false);
    });
    return () => controller.abort();
  }, [at, session, filter]);

  const groups = useMemo(() => [...school.groups].sort((a, b) => a.name.localeCompare(b.name, "zh")), [school]);

  return (
    <section class="asof" data-testid="asof">
      <div class="panel asof-controls">
        <label>{t("asof.session")}
          <select value={session} data-testid="asof-session" onChange={(e) => setSession((e.target as HTMLSelectElement).value)}>
            {sessions.map((s) => <option key={s.key} value={s.key}>{s.name}</option>)}
          </select>
        </label>
        <label>{t("asof.day")}
          <input type="date" value={day} max={isoDay(serverNow(), tz)} data-testid="asof-day"
            onChange={(e) => { const v = (e.target as HTMLInputElement).value; if (v) setDay(v); }} />
        </label>
        <label>{t("asof.filter")}
          <select value={filter} data-testid="asof-filter" onChange={(e) => setFilter((e.target as HTMLSelectElement).value)}>
            <option value="">{t("asof.filter.all")}</option>
            <optgroup label={t("asof.filter.groups")}>
              {groups.map((g) => <option key={g.group_id} value={`group:${g.group_id}`}>{g.name}</option>)}
            </optgroup>
            <optgroup label={t("asof.filter.gates")}>
              {school.gates.map((g) => <option key={g.gate_id} value={`gate:${g.gate_id}`}>{g.name}</option>)}
            </optgroup>
          </select>
        </label>
        <label>{t("asof.shift.pick")}
          <select value={staff?.id ?? ""} data-testid="asof-staff" onChange={(e) => {
            const id = (e.target as HTMLSelectElement).value;
            const member = school.staff.find((m) => m.staff_id === id);
            setStaff(member ? { id, name: member.name } : null);
          }}>
            <option value="">{t("asof.shift.none")}</option>
            {school.staff.map((m) => <option key={m.staff_id} value={m.staff_id}>{m.name}</option>)}
          </select>
        </label>
        <label class="asof-time">{t("asof.time")}
          <input type="time" step={60} value={hhmm(clamped)} min={hhmm(lo)} max={hhmm(hi)} data-testid="asof-time"
            onChange={(e) => { const v = (e.target as HTMLInputElement).value; if (v) setMinute(minutesOf(v)); }} />
        </label>
        <label class="asof-slider">
          <span class="label">{t("asof.slider", { from: hhmm(lo), to: hhmm(hi) })}</span>
          <input type="range" min={lo} max={hi} step={1} value={clamped} data-testid="asof-slider"
            aria-valuetext={hhmm(clamped)}
            onInput={(e) => setMinute(Number((e.target as HTMLInputElement).value))} />
        </label>
      </div>
      <p class="hint" data-testid="asof-status" aria-live="polite" aria-busy={loading}
        data-answered={answered} data-loading={loading ? "true" : "false"}>
        {loading ? t("asof.loading") : found
          ? t("asof.summary", {
            time: hhmm(settled), total: found.counts.total,
            held: found.counts.by_status.in_custody ?? 0, gone: found.counts.gone, position: found.position,
          })
          : ""}
      </p>
      {failed && <p class="error" role="alert">{failed}</p>}
      {found && !found.service && <p class="hint">{t("asof.no_service")}</p>}
      <div class="asof-body">
        {found && (
          <table class="asof-roster" data-testid="asof-roster">
            <thead>
              <tr><th>{t("asof.col.pupil")}</th><th>{t("asof.col.status")}</th><th>{t("asof.col.custodian")}</th><th>{t("asof.col.place")}</th></tr>
            </thead>
            <tbody>
              {found.pupils.map((p) => (
                <tr key={p.pupil_id} data-testid="asof-row" data-pupil-id={p.pupil_id} data-status={p.status}
                  class={picked?.pupil_id === p.pupil_id ? "chosen" : ""}>
                  <td>
                    <button type="button" class="link" data-testid="asof-pupil" onClick={() => { setPicked(p); setStaff(null); }}>
                      {p.name}
                    </button>
                    <span class="sub"> {p.class_label ?? ""}</span>
                  </td>
                  <td>{known("status", p.status, "status.other")}</td>
                  <td data-testid="asof-custodian">{p.custodian?.name ?? ""}</td>
                  <td data-testid="asof-place">{p.place?.label ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div class="asof-detail">
        {picked && <Custody pupil={picked} at={at} session={session} tz={tz} day={day}
          onStaff={(id, who) => setStaff({ id, name: who })} />}
        {staff && <DayTimeline kind="staff" id={staff.id} day={day} tz={tz} title={t("asof.shift.title", { name: staff.name })} />}
        </div>
      </div>
    </section>
  );
}
