// The schedule (作息时间) as a form: grade bands, sessions with their dismissal time per band,
// seasons that move those times, the days without service, the grace minutes; a preview of
// today's dismissals from the form as it stands; what the service refuses is shown at its field.
import { useState } from "preact/hooks";
import { api, type School } from "../api/client";
import { t } from "../i18n";
import { dismissal, isoDay, serverNow, weekday } from "../time";
import { done, Field, key, Note, type Outcome, refused, value } from "./forms";

type Schedule = School["schedule"];
type Session = Schedule["sessions"][number];
type Season = NonNullable<Session["seasons"]>[number];
const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7];

/** An error's path as the form names its fields: "schedule.sessions[0].start" → "sessions.0.start". */
function normal(path: string): string {
  return path.replace(/^schedule\.?/, "").replace(/\[(\d+)\]/g, ".$1").replace(/^\$$/, "");
}

/** Each error at the most precise field the form has for it (a whole section if need be). */
export function placed(outcome: Outcome, names: Set<string>): Outcome {
  const fields: Record<string, string> = {};
  for (const [path, message] of Object.entries(outcome.fields)) {
    let p = normal(path);
    while (p && !names.has(p)) p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "";
    fields[p || "schedule"] = message;
  }
  return { ...outcome, fields };
}

function names(s: Schedule): Set<string> {
  const n = new Set(["schedule", "bands", "sessions", "no_service_dates", "grace_minutes"]);
  s.bands.forEach((_, i) => ["key", "name", "grades"].forEach((f) => n.add(`bands.${i}.${f}`)));
  s.sessions.forEach((x, i) => {
    ["key", "name", "start", "weekdays", "dismissals", "seasons"].forEach((f) => n.add(`sessions.${i}.${f}`));
    s.bands.forEach((b) => n.add(`sessions.${i}.dismissals.${b.key}`));
    (x.seasons ?? []).forEach((_, j) => {
      const sp = `sessions.${i}.seasons.${j}`;
      [sp, `${sp}.name`, `${sp}.starts`, `${sp}.ends`, `${sp}.start`, `${sp}.dismissals`].forEach((f) => n.add(f));
      s.bands.forEach((b) => n.add(`${sp}.dismissals.${b.key}`));
    });
  });
  return n;
}

function Wrong({ name, outcome }: { name: string; outcome: Outcome | null }) {
  const wrong = outcome?.fields[name];
  if (wrong === undefined) return null;
  return <span class="field-error" role="alert" title={wrong} data-testid="field-error" data-error-at={name}>{t("admin.field.invalid")}</span>;
}

export function ScheduleEditor({ school, onSaved }: { school: School; onSaved: () => void }) {
  const [draft, setDraft] = useState<Schedule>(() => structuredClone(school.schedule));
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [holiday, setHoliday] = useState("");
  const grades = school.grades;

  const bands = (f: (b: Schedule["bands"]) => Schedule["bands"]) => setDraft({ ...draft, bands: f([...draft.bands]) });
  const session = (i: number, change: Partial<Session>) =>
    setDraft({ ...draft, sessions: draft.sessions.map((s, k) => (k === i ? { ...s, ...change } : s)) });
  const season = (i: number, j: number, change: Partial<Season>) =>
    session(i, { seasons: (draft.sessions[i]?.seasons ?? []).map((x, k) => (k === j ? { ...x, ...change } : x)) });
  const times = (d: Record<string, string> | undefined, band: string, at: string) => {
    const next = { ...(d ?? {}) };
    if (at) next[band] = at;
    else delete next[band];
    return next;
  };

  async function save(e: Event) {
    e.preventDefault();
    const { data, error } = await api.PUT("/v1/school/schedule", { params: { header: key() }, body: draft });
    if (!data) return setOutcome(placed(refused(error), names(draft)));
    setDraft(structuredClone(data));
    setOutcome(done(t("admin.schedule.saved")));
    onSaved();
  }

  const field = (label: string, name: string, input: preact.ComponentChildren) => (
    <Field label={label} name={name} outcome={outcome}>{input}</Field>
  );
  return (
    <section aria-label={t("admin.tab.schedule")} data-testid="admin-schedule">
      <form onSubmit={(e) => void save(e)} data-testid="schedule-form">
        <Preview schedule={draft} timezone={school.timezone} />
        <Wrong name="schedule" outcome={outcome} />
        <h3>{t("admin.schedule.bands")}</h3>
        <Wrong name="bands" outcome={outcome} />
        {draft.bands.map((b, i) => (
          <div class="admin-form band" key={i} data-testid="band">
            {field(t("admin.schedule.band_name"), `bands.${i}.name`,
              <input value={b.name} data-testid="band-name" onInput={(e) => bands((x) => { x[i] = { ...b, name: value(e) }; return x; })} />)}
            {field(t("admin.schedule.band_key"), `bands.${i}.key`,
              <input value={b.key} lang="en" data-testid="band-key" onInput={(e) => bands((x) => { x[i] = { ...b, key: value(e) }; return x; })} />)}
            <fieldset class="weekdays field" data-field={`bands.${i}.grades`}>
              <legend>{t("admin.schedule.grades")}</legend>
              {grades.map((g) => (
                <label class="check" key={g}>
                  <input type="checkbox" checked={b.grades.includes(g)} data-testid={`band-grade-${g}`} onChange={() => bands((x) => {
                    x[i] = { ...b, grades: b.grades.includes(g) ? b.grades.filter((y) => y !== g) : [...b.grades, g].sort((p, q) => p - q) };
                    return x;
                  })} />{t("admin.schedule.grade", { n: g })}
                </label>
              ))}
              <Wrong name={`bands.${i}.grades`} outcome={outcome} />
            </fieldset>
            <button type="button" class="ghost" onClick={() => bands((x) => x.filter((_, k) => k !== i))}>{t("admin.schedule.remove")}</button>
          </div>
        ))}
        <button type="button" class="ghost" data-testid="band-add"
          onClick={() => bands((x) => [...x, { key: `band${x.length + 1}`, name: "", grades: [] }])}>{t("admin.schedule.band_add")}</button>

        <h3>{t("admin.schedule.sessions")}</h3>
        <Wrong name="sessions" outcome={outcome} />
        {draft.sessions.map((s, i) => (
          <div class="admin-form session" key={i} data-testid="session">
            <h4>{s.name || t("admin.schedule.session_new")}</h4>
            {field(t("admin.schedule.session_name"), `sessions.${i}.name`, <input value={s.name} onInput={(e) => session(i, { name: value(e) })} />)}
            {field(t("admin.schedule.session_key"), `sessions.${i}.key`, <input value={s.key} lang="en" onInput={(e) => session(i, { key: value(e) })} />)}
            {field(t("admin.schedule.start"), `sessions.${i}.start`, <input type="time" value={s.start} data-testid="session-start" onInput={(e) => session(i, { start: value(e) })} />)}
            <fieldset class="weekdays field" data-field={`sessions.${i}.weekdays`}>
              <legend>{t("admin.statement.weekdays")}</legend>
              {WEEKDAYS.map((d) => (
                <label class="check" key={d}>
                  <input type="checkbox" checked={s.weekdays.includes(d)} onChange={() => session(i, {
                    weekdays: s.weekdays.includes(d) ? s.weekdays.filter((x) => x !== d) : [...s.weekdays, d].sort(),
                  })} />{t(`admin.weekday.${d}` as "admin.weekday.1")}
                </label>
              ))}
              <Wrong name={`sessions.${i}.weekdays`} outcome={outcome} />
            </fieldset>
            <p class="wide">{t("admin.schedule.dismissals")}<Wrong name={`sessions.${i}.dismissals`} outcome={outcome} /></p>
            {draft.bands.map((b) => field(b.name || b.key, `sessions.${i}.dismissals.${b.key}`,
              <input type="time" value={s.dismissals[b.key] ?? ""} data-testid={`dismissal-${b.key}`}
                onInput={(e) => session(i, { dismissals: times(s.dismissals, b.key, value(e)) })} />))}
            <Wrong name={`sessions.${i}.seasons`} outcome={outcome} />
            {(s.seasons ?? []).map((x, j) => {
              const sp = `sessions.${i}.seasons.${j}`;
              return (
                <div class="admin-form season" key={j} data-testid="season" data-field={sp}>
                  <h4>{t("admin.schedule.season")}<Wrong name={sp} outcome={outcome} /></h4>
                  {field(t("admin.schedule.season_name"), `${sp}.name`, <input value={x.name} data-testid="season-name" onInput={(e) => season(i, j, { name: value(e) })} />)}
                  {field(t("admin.schedule.season_starts"), `${sp}.starts`, <input value={x.starts} placeholder="05-01" data-testid="season-starts" onInput={(e) => season(i, j, { starts: value(e) })} />)}
                  {field(t("admin.schedule.season_ends"), `${sp}.ends`, <input value={x.ends} placeholder="10-01" data-testid="season-ends" onInput={(e) => season(i, j, { ends: value(e) })} />)}
                  {field(t("admin.schedule.start"), `${sp}.start`, <input type="time" value={x.start ?? ""} onInput={(e) => season(i, j, { start: value(e) || null })} />)}
                  {draft.bands.map((b) => field(b.name || b.key, `${sp}.dismissals.${b.key}`,
                    <input type="time" value={x.dismissals?.[b.key] ?? ""} data-testid={`season-dismissal-${b.key}`}
                      onInput={(e) => season(i, j, { dismissals: times(x.dismissals, b.key, value(e)) })} />))}
                  <Wrong name={`${sp}.dismissals`} outcome={outcome} />
                  <button type="button" class="ghost" onClick={() => session(i, { seasons: (s.seasons ?? []).filter((_, k) => k !== j) })}>{t("admin.schedule.remove")}</button>
                </div>
              );
            })}
            <button type="button" class="ghost" data-testid="season-add"
              onClick={() => session(i, { seasons: [...(s.seasons ?? []), { name: "", starts: "", ends: "", dismissals: {} }] })}>{t("admin.schedule.season_add")}</button>
            <button type="button" class="ghost" onClick={() => setDraft({ ...draft, sessions: draft.sessions.filter((_, k) => k !== i) })}>{t("admin.schedule.remove")}</button>
          </div>
        ))}
        <button type="button" class="ghost" onClick={() => setDraft({ ...draft, sessions: [...draft.sessions,
          { key: `session${draft.sessions.length + 1}`, name: "", start: "", dismissals: {}, weekdays: [1, 2, 3, 4, 5], seasons: [] }] })}>
          {t("admin.schedule.session_add")}</button>

        <h3>{t("admin.schedule.no_service")}</h3>
        <div class="admin-form">
          <ul class="holidays wide" data-testid="no-service-dates">
            {(draft.no_service_dates ?? []).map((d) => (
              <li key={d}>{d}
                <button type="button" class="ghost" onClick={() => setDraft({ ...draft, no_service_dates: (draft.no_service_dates ?? []).filter((x) => x !== d) })}>{t("admin.schedule.remove")}</button>
              </li>
            ))}
          </ul>
          {field(t("admin.schedule.no_service_add"), "no_service_dates", <input type="date" value={holiday} data-testid="no-service-date" onInput={(e) => setHoliday(value(e))} />)}
          <button type="button" class="ghost" disabled={!holiday} data-testid="no-service-add" onClick={() => {
            setDraft({ ...draft, no_service_dates: [...new Set([...(draft.no_service_dates ?? []), holiday])].sort() });
            setHoliday("");
          }}>{t("admin.schedule.add_date")}</button>
          {field(t("admin.schedule.grace"), "grace_minutes", <input type="number" min={0} max={180} value={draft.grace_minutes ?? 10}
            data-testid="grace-minutes" onInput={(e) => setDraft({ ...draft, grace_minutes: Number(value(e)) })} />)}
        </div>
        <div class="row-actions">
          <button type="submit" class="primary" data-testid="schedule-save">{t("admin.schedule.save")}</button>
          <button type="button" class="ghost" onClick={() => { setDraft(structuredClone(school.schedule)); setOutcome(null); }}>{t("admin.schedule.undo")}</button>
        </div>
        <Note outcome={outcome} />
      </form>
    </section>
  );
}

/** Today's dismissals, band by band, as the form would make them. */
function Preview({ schedule, timezone }: { schedule: Schedule; timezone: string }) {
  const day = isoDay(serverNow(), timezone);
  const closed = (schedule.no_service_dates ?? []).includes(day);
  return (
    <div class="preview" data-testid="schedule-preview">
      <h3>{t("admin.schedule.preview", { day })}</h3>
      {schedule.sessions.map((s, i) => (
        <div key={i} class="preview-session">
          <p class="who">{s.name || s.key}</p>
          {closed ? <p>{t("admin.setup.no_service")}</p>
            : !s.weekdays.includes(weekday(day)) ? <p>{t("admin.schedule.not_today")}</p>
              : (
                <ul class="preview-bands">
                  {schedule.bands.map((b) => (
                    <li key={b.key} data-testid="preview-band"><span>{b.name || b.key}</span>
                      <strong>{dismissal(schedule, s.key, b.key, day) ?? t("admin.schedule.not_attending")}</strong></li>
                  ))}
                </ul>
              )}
        </div>
      ))}
    </div>
  );
}
