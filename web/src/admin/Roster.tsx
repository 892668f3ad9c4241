// The roster import (名单导入): a CSV or XLSX file, tried first or imported at once, with the
// agreements the school already holds on paper; every refused cell shown at its row and column;
// then the enrolment steps for a class, each pupil's result shown.
import { useState } from "preact/hooks";
import { api, type Problem, type Schemas, type School } from "../api/client";
import { device } from "../device";
import { lang, t } from "../i18n";
import { noteServerTime } from "../time";
import { done, Field, key, Note, type Outcome, refused, value } from "./forms";

type Report = Schemas["ImportReport"];
type RowError = { row: number; column: string; reason: string };
type Bulk = Schemas["BulkResult"];
type Step = Bulk["step"];
const STEPS: Step[] = ["applied", "class_reviewed", "school_approved", "signed"];

/** The reader's half of a "中文 / English" reason the importer gives. */
export function inLanguage(reason: string): string {
  const [zh, ...en] = reason.split(" / ");
  return lang.value === "zh" || en.length === 0 ? (zh ?? reason) : en.join(" / ");
}

type Options = { dryRun: boolean; term: string; starts: string; ends: string; allSigned: boolean; signedOn: string; ref: string };

async function uploadRoster(file: File, o: Options): Promise<{ report?: Report; problem?: Problem }> {
  const query = new URLSearchParams();
  if (o.dryRun) query.set("dry_run", "true");
  if (o.term.trim()) query.set("term", o.term.trim());
  if (o.starts) query.set("term_starts", o.starts);
  if (o.ends) query.set("term_ends", o.ends);
  if (o.allSigned) query.set("agreements_signed", "true");
  if (o.signedOn) query.set("agreement_date", o.signedOn);
  if (o.ref.trim()) query.set("agreement_ref", o.ref.trim());
  const form = new FormData();
  form.append("file", file, file.name);
  const headers = new Headers({ "Idempotency-Key": crypto.randomUUID(), "X-Device-Id": device.id() });
  const token = device.token();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(`/v1/imports/roster?${query.toString()}`, { method: "POST", body: form, headers });
  noteServerTime(response.headers.get("X-Server-Time"));
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = { type: "unknown", title: response.statusText, status: response.status };
  }
  return response.ok ? { report: body as Report } : { problem: body as Problem };
}

export function Roster({ school, onChanged }: { school: School; onChanged: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [o, setO] = useState<Options>({ dryRun: true, term: "", starts: "", ends: "", allSigned: false, signedOn: "", ref: "" });
  const [report, setReport] = useState<Report | null>(null);
  const [rows, setRows] = useState<RowError[]>([]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof Options) => (e: Event) => setO({ ...o, [k]: value(e) });

  async function submit(e: Event) {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    const { report: r, problem } = await uploadRoster(file, o).finally(() => setBusy(false));
    if (r) {
      setReport(r);
      setRows([]);
      setOutcome(done(r.imported ? t("admin.roster.imported") : t("admin.roster.tried")));
      if (r.imported) onChanged();
      return;
    }
    setReport(null);
    const errors = Array.isArray(problem?.errors) ? (problem.errors as Partial<RowError>[]) : [];
    setRows(errors.filter((x): x is RowError => typeof x.row === "number"));
    setOutcome(problem?.status === 413 ? { ...refused(problem), text: t("admin.roster.too_large") }
      : errors.some((x) => typeof x.row === "number") ? { ...refused(problem), text: t("admin.roster.rows_refused", { n: errors.length }) }
        : refused(problem));
  }

  return (
    <section aria-label={t("admin.tab.roster")} data-testid="admin-roster">
      <form class="admin-form" data-testid="roster-form" onSubmit={(e) => void submit(e)}>
        <h4>{t("admin.roster.title")}</h4>
        <p class="hint wide">{t("admin.roster.columns")}</p>
        <div class={outcome?.fields.file !== undefined ? "field wrong" : "field"} data-field="file">
          <span>{t("admin.roster.file")}</span>
          <label class="ghost file-button">
            {file ? file.name : t("admin.roster.choose")}
            <input type="file" class="file-input" accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
              data-testid="roster-file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
          </label>
          {outcome?.fields.file !== undefined && <span class="field-error" role="alert" title={outcome.fields.file} data-error-at="file">{t("admin.field.invalid")}</span>}
        </div>
        <Field label={t("admin.roster.term")} name="term" outcome={outcome}><input value={o.term} data-testid="roster-term" placeholder="2026秋" onInput={set("term")} /></Field>
        <Field label={t("admin.roster.term_starts")} name="term_starts" outcome={outcome}><input type="date" value={o.starts} data-testid="roster-term-starts" onInput={set("starts")} /></Field>
        <Field label={t("admin.roster.term_ends")} name="term_ends" outcome={outcome}><input type="date" value={o.ends} data-testid="roster-term-ends" onInput={set("ends")} /></Field>
        <label class="check"><input type="checkbox" checked={o.allSigned} data-testid="roster-all-signed"
          onChange={(e) => setO({ ...o, allSigned: (e.target as HTMLInputElement).checked })} />{t("admin.roster.all_signed")}</label>
        <Field label={t("admin.roster.agreement_date")} name="agreement_date" outcome={outcome}><input type="date" value={o.signedOn} onInput={set("signedOn")} /></Field>
        <Field label={t("admin.roster.agreement_ref")} name="agreement_ref" outcome={outcome}><input value={o.ref} onInput={set("ref")} /></Field>
        <label class="check"><input type="checkbox" checked={o.dryRun} data-testid="roster-dry-run"
          onChange={(e) => setO({ ...o, dryRun: (e.target as HTMLInputElement).checked })} />{t("admin.roster.dry_run")}</label>
        <button type="submit" class="primary" disabled={!file || busy} data-testid="roster-upload">
          {o.dryRun ? t("admin.roster.try") : t("admin.roster.import")}</button>
      </form>
      <Note outcome={outcome} />
      {rows.length > 0 && (
        <table class="row-errors" data-testid="roster-errors">
          <thead><tr><th>{t("admin.roster.row")}</th><th>{t("admin.roster.column")}</th><th>{t("admin.roster.reason")}</th></tr></thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i} data-testid="roster-error">
                <td>{t("admin.roster.row_n", { n: r.row })}</td><td>{r.column}</td><td>{inLanguage(r.reason)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {report && <ImportReport report={report} />}
      <BulkSteps school={school} />
    </section>
  );
}

function ImportReport({ report }: { report: Report }) {
  const tiles: [string, number][] = [
    [t("admin.roster.rows"), report.rows ?? 0],
    [t("admin.roster.created"), report.pupils_created ?? 0],
    [t("admin.roster.present"), report.pupils_already_present ?? 0],
    [t("admin.roster.classes"), report.classes_created ?? 0],
    [t("admin.roster.staff"), report.staff_created ?? 0],
    [t("admin.roster.signed"), report.pupils_signed ?? 0],
    [t("admin.roster.already_signed"), report.pupils_already_signed ?? 0],
  ];
  return (
    <div data-testid="roster-report">
      <h3>{report.imported ? t("admin.roster.report") : t("admin.roster.report_dry")}</h3>
      <dl class="tiles">
        {tiles.map(([k, n]) => <div key={k}><dt>{k}</dt><dd>{n}</dd></div>)}
      </dl>
      {(report.agreements_refused ?? []).length > 0 && (
        <ul class="rows" data-testid="roster-agreements-refused">
          {(report.agreements_refused ?? []).map((a) => (
            <li class="row" key={a.pupil_id}>
              <span class="who">{t("admin.roster.row_n", { n: a.row })} · {a.name}</span>
              <span>{t("admin.roster.agreement_refused")}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function BulkSteps({ school }: { school: School }) {
  const [classId, setClassId] = useState(school.classes[0]?.class_id ?? "");
  const [step, setStep] = useState<Step>("applied");
  const sessions = school.schedule.sessions;
  const [session, setSession] = useState(sessions.find((x) => x.key === "after_school")?.key ?? sessions[0]?.key ?? "");
  const [v, setV] = useState({ term: "", starts: "", ends: "", signedOn: "", ref: "", note: "" });
  const [result, setResult] = useState<Bulk | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: value(e) });
  const note = v.note.trim() ? { note: v.note.trim() } : {};

  async function submit(e: Event) {
    e.preventDefault();
    const params = { header: key() };
    const answer = step === "applied"
      ? await api.POST("/v1/enrolment/apply", { params, body: { class_id: classId, term: v.term.trim(), starts: v.starts, ends: v.ends, sessions: [session] } })
      : step === "signed"
        ? await api.POST("/v1/enrolment/signed", { params, body: {
          class_id: classId, ...note, ...(v.signedOn ? { signed_on: v.signedOn } : {}), ...(v.ref.trim() ? { reference: v.ref.trim() } : {}) } })
        : await api.POST(`/v1/enrolment/${step}`, { params, body: { class_id: classId, ...note } });
    if (!answer.data) {
      setResult(null);
      setOutcome(refused(answer.error));
      return;
    }
    setResult(answer.data);
    setOutcome(done(t("admin.bulk.done", { done: answer.data.done, already: answer.data.already, refused: answer.data.refused })));
  }

  return (
    <div data-testid="bulk-enrolment">
      <form class="admin-form" data-testid="bulk-form" onSubmit={(e) => void submit(e)}>
        <h4>{t("admin.bulk.title")}</h4>
        <Field label={t("admin.pupils.class")} name="class_id" outcome={outcome}>
          <select value={classId} data-testid="bulk-class" onChange={(e) => setClassId(value(e))}>
            {school.classes.map((c) => <option key={c.class_id} value={c.class_id}>{c.label}</option>)}
          </select>
        </Field>
        <Field label={t("admin.bulk.step")} name="step" outcome={outcome}>
          <select value={step} data-testid="bulk-step" onChange={(e) => setStep(value(e) as Step)}>
            {STEPS.map((s) => <option key={s} value={s}>{t(`admin.bulk.step.${s}` as "admin.bulk.step.applied")}</option>)}
          </select>
        </Field>
        {step === "applied" && (
          <>
            <Field label={t("admin.bulk.session")} name="sessions" outcome={outcome}>
              <select value={session} onChange={(e) => setSession(value(e))}>
                {sessions.map((x) => <option key={x.key} value={x.key}>{x.name}</option>)}
              </select>
            </Field>
            <Field label={t("admin.bulk.term")} name="term" outcome={outcome}><input value={v.term} data-testid="bulk-term" placeholder="2026秋" onInput={set("term")} /></Field>
            <Field label={t("admin.roster.term_starts")} name="starts" outcome={outcome}><input type="date" value={v.starts} data-testid="bulk-starts" onInput={set("starts")} /></Field>
            <Field label={t("admin.roster.term_ends")} name="ends" outcome={outcome}><input type="date" value={v.ends} data-testid="bulk-ends" onInput={set("ends")} /></Field>
          </>
        )}
        {step === "signed" && (
          <>
            <Field label={t("admin.roster.agreement_date")} name="signed_on" outcome={outcome}><input type="date" value={v.signedOn} data-testid="bulk-signed-on" onInput={set("signedOn")} /></Field>
            <Field label={t("admin.roster.agreement_ref")} name="reference" outcome={outcome}><input value={v.ref} data-testid="bulk-reference" onInput={set("ref")} /></Field>
          </>
        )}
        {step !== "applied" && (
          <Field label={t("admin.bulk.note")} name="note" outcome={outcome}><input value={v.note} onInput={set("note")} /></Field>
        )}
        <button type="submit" class="primary" data-testid="bulk-submit">{t("admin.bulk.submit")}</button>
      </form>
      <Note outcome={outcome} />
      {result && (
        <table class="row-errors" data-testid="bulk-result">
          <thead><tr><th>{t("admin.name")}</th><th>{t("admin.bulk.result")}</th><th>{t("admin.bulk.now")}</th></tr></thead>
          <tbody>
            {result.pupils.map((p) => (
              <tr key={p.pupil_id} data-testid="bulk-pupil" class={p.result === "refused" ? "refused" : ""}>
                <td>{p.name ?? p.pupil_id}</td>
                <td title={p.reason?.detail ?? undefined}>{t(`admin.bulk.result.${p.result}` as "admin.bulk.result.done")}
                  {p.reason ? ` · ${t(`admin.bulk.reason.${p.reason.code === "conflict" ? "conflict" : p.reason.code === "forbidden" ? "forbidden" : "rule"}` as "admin.bulk.reason.rule")}` : ""}</td>
                <td>{p.enrolment_status ? t(`admin.enrolment.${p.enrolment_status}` as "admin.enrolment.none") : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
