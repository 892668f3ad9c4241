// The inspector's evidence (督导取证): the audit trail searched, a pupil's evidence pack (with
// its JSON and PDF downloads), the school's log verified against its signed checkpoints, and the
// access record of who read which child's data. Read-only: nothing here writes.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type RosterPupil, type Schemas, type School } from "../api/client";
import { known, t } from "../i18n";
import { zh } from "../i18n/zh";
import { search as findPupil } from "../search";
import { isoDay } from "../time";
import { saveFile } from "./Exports";

type Hit = Schemas["SearchHit"];
type Pack = Schemas["PackOut"];
type PackEntry = Record<string, unknown> & {
  position: number | null; what: string; at: string | null; proof_status: string;
  who?: { name?: string | null } | null; where?: { label?: string } | null;
};
type Verified = Schemas["VerifiedOut"];
type AccessRead = Schemas["AccessRead"];
type Staff = Schemas["StaffOut"];

function when(at: string | null | undefined, tz: string): string {
  if (!at) return "";
  return new Intl.DateTimeFormat("zh-CN", { timeZone: tz, month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hour12: false }).format(new Date(at));
}

/** Pupils by name: the one searched for first, then a few, then how many more. */
function pupilNames(ids: string[], names: Map<string, string>, first: string | null): string {
  const ordered = first && ids.includes(first) ? [first, ...ids.filter((id) => id !== first)] : ids;
  const shown = ordered.slice(0, 3).map((id) => names.get(id) ?? id.slice(0, 8)).join("、");
  return ordered.length > 3 ? t("evidence.and_more", { names: shown, n: ordered.length }) : shown;
}

function what(code: string): string {
  return `chain.${code}` in zh ? known("chain", code, "evidence.what.other") : known("evidence.step", code, "evidence.what.other");
}

/** A stored event in words: its kind of record, and the step where the chain names it. */
function eventLabel(event: string, code: string): string {
  const aggregate = event.split(".")[0] ?? "";
  const kind = known("evidence.type", aggregate, "evidence.what.other");
  return `${kind} · ${what(code)}`;
}

function PupilPicker({ pupils, value, onPick, testid }: {
  pupils: RosterPupil[]; value: string | null; onPick: (id: string | null) => void; testid: string;
}) {
  const [query, setQuery] = useState("");
  const found = useMemo(() => (query.trim() ? findPupil(query, pupils).slice(0, 6) : []), [query, pupils]);
  const chosen = pupils.find((p) => p.pupil_id === value);
  return (
    <div class="evidence-pupil">
      <label>{t("evidence.pupil")}
        <input type="search" value={query} data-testid={`${testid}-pupil`} autocomplete="off"
          placeholder={chosen ? chosen.name : t("search.placeholder")} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
      </label>
      {chosen && <button type="button" class="ghost" data-testid={`${testid}-pupil-clear`} onClick={() => onPick(null)}>
        {t("evidence.any_pupil_instead", { name: chosen.name })}</button>}
      {found.length > 0 && (
        <ul class="picks">
          {found.map((p) => (
            <li key={p.pupil_id}>
              <button type="button" class="pupil" data-testid={`${testid}-pick`} onClick={() => { onPick(p.pupil_id); setQuery(""); }}>
                <span class="who">{p.name}</span><span class="rel">{p.class_label}</span><span class="due" />
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function useStaff(): Staff[] {
  const [staff, setStaff] = useState<Staff[]>([]);
  useEffect(() => {
    void api.GET("/v1/staff").then(({ data }) => setStaff(data ?? []));
  }, []);
  return staff;
}

const TYPES = ["PupilDay", "PupilDay.Released", "PupilDay.ReleaseRefused", "PupilDay.CustodyTaken", "Handover",
  "Incident", "Alert", "Pupil", "School", "Shift"] as const;

export function AuditSearch({ pupils, tz, names }: { pupils: RosterPupil[]; tz: string; names: Map<string, string> }) {
  const staff = useStaff();
  const [pupil, setPupil] = useState<string | null>(null);
  const [who, setWho] = useState("");
  const [type, setType] = useState("");
  const [device, setDevice] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(after: number) {
    setError(null);
    const query = { pupil: pupil ?? undefined, staff: who || undefined, type: type || undefined,
      device: device.trim() || undefined, from: from || undefined, to: to || undefined, after, limit: 50 };
    const { data, response } = await api.GET("/v1/evidence/search", { params: { query } });
    if (!data) {
      setError(t("error.server", { status: response.status }));
      return;
    }
    setHits(after === 0 ? data.hits : [...(hits ?? []), ...data.hits]);
    setNext(data.next_after);
  }

  return (
    <section class="evidence" data-testid="audit-search">
      <div class="panel">
        <h2>{t("evidence.search")}</h2>
        <PupilPicker pupils={pupils} value={pupil} onPick={setPupil} testid="audit" />
        <label>{t("evidence.staff")}
          <select value={who} data-testid="audit-staff" onChange={(e) => setWho((e.target as HTMLSelectElement).value)}>
            <option value="">{t("evidence.anyone")}</option>
            {staff.map((s) => <option key={s.staff_id} value={s.staff_id}>{s.name}</option>)}
          </select>
        </label>
        <label>{t("evidence.type")}
          <select value={type} data-testid="audit-type" onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            <option value="">{t("evidence.any_type")}</option>
            {TYPES.map((x) => <option key={x} value={x}>{t(`evidence.type.${x}`)}</option>)}
          </select>
        </label>
        <label>{t("evidence.device")}
          <input value={device} data-testid="audit-device" onInput={(e) => setDevice((e.target as HTMLInputElement).value)} />
        </label>
        <div class="row-actions">
          <label>{t("evidence.from")}<input type="datetime-local" value={from} data-testid="audit-from"
            onInput={(e) => setFrom((e.target as HTMLInputElement).value)} /></label>
          <label>{t("evidence.to")}<input type="datetime-local" value={to} data-testid="audit-to"
            onInput={(e) => setTo((e.target as HTMLInputElement).value)} /></label>
        </div>
        <button type="button" class="primary" data-testid="audit-run" onClick={() => void run(0)}>{t("evidence.run")}</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {hits && (
        <div class="panel">
          <h3>{t("evidence.hits", { n: hits.length })}</h3>
          {hits.length === 0 && <p class="hint">{t("evidence.no_hits")}</p>}
          <table class="evidence-table" data-testid="audit-hits">
            <thead><tr><th>{t("evidence.col.position")}</th><th>{t("evidence.col.when")}</th><th>{t("evidence.col.event")}</th>
              <th>{t("evidence.col.pupils")}</th><th>{t("evidence.col.who")}</th><th>{t("evidence.col.where")}</th></tr></thead>
            <tbody>
              {hits.map((h) => {
                const ids = (h.subject as { pupil_ids?: string[] }).pupil_ids ?? [];
                return (
                  <tr key={h.position ?? h.aggregate_id} data-testid="audit-hit" data-event={h.event}>
                    <td>{h.position}</td><td>{when(h.at, tz)}</td><td title={h.event}>{eventLabel(h.event, h.what)}</td>
                    <td>{pupilNames(ids, names, pupil)}</td>
                    <td>{h.who?.name ?? ""}</td>
                    <td>{(h.where as { label?: string } | null)?.label ?? h.device ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {next !== null && <button type="button" class="ghost" data-testid="audit-more" onClick={() => void run(next)}>
            {t("evidence.more")}</button>}
        </div>
      )}
    </section>
  );
}

function PackRows({ entries, tz }: { entries: PackEntry[]; tz: string }) {
  return (
    <ol class="history">
      {entries.map((e) => (
        <li key={`${String(e.aggregate_id)}-${String(e.version)}`} data-testid="pack-entry" data-proof={e.proof_status}>
          <time>{when(e.at, tz)}</time>{" "}<strong>{what(e.what)}</strong>
          {e.who?.name ? ` · ${e.who.name}` : ""}{e.where?.label ? ` · ${e.where.label}` : ""}
          <span class="sub"> · {t("evidence.position", { n: e.position ?? "—" })} · {t(`evidence.proof.${e.proof_status}` as "evidence.proof.verified")}</span>
        </li>
      ))}
    </ol>
  );
}

export function PupilPack({ pupils, school }: { pupils: RosterPupil[]; school: School }) {
  const tz = school.timezone;
  const today = isoDay(new Date(), tz);
  const [pupil, setPupil] = useState<string | null>(null);
  const [from, setFrom] = useState(today);
  const [to, setTo] = useState(today);
  const [pack, setPack] = useState<Pack | null>(null);
  const [error, setError] = useState<string | null>(null);
  const query = (format: string) => `/v1/evidence/pupils/${encodeURIComponent(pupil ?? "")}/pack?from=${from}&to=${to}&format=${format}`;

  async function open() {
    if (!pupil) return;
    setError(null);
    setPack(null);
    const { data, response } = await api.GET("/v1/evidence/pupils/{pupil_id}/pack", {
      params: { path: { pupil_id: pupil }, query: { from, to } } });
    if (data && typeof data !== "string") setPack(data);
    else setError(response.status === 422 ? t("evidence.range_bad") : t("error.server", { status: response.status }));
  }

  return (
    <section class="evidence" data-testid="pupil-pack">
      <div class="panel">
        <h2>{t("evidence.pack")}</h2>
        <PupilPicker pupils={pupils} value={pupil} onPick={setPupil} testid="pack" />
        <div class="row-actions">
          <label>{t("evidence.from_day")}<input type="date" value={from} data-testid="pack-from" onInput={(e) => setFrom((e.target as HTMLInputElement).value)} /></label>
          <label>{t("evidence.to_day")}<input type="date" value={to} data-testid="pack-to" onInput={(e) => setTo((e.target as HTMLInputElement).value)} /></label>
        </div>
        <div class="row-actions">
          <button type="button" class="primary" disabled={!pupil} data-testid="pack-open" onClick={() => void open()}>{t("evidence.open_pack")}</button>
          <button type="button" class="ghost" disabled={!pupil} data-testid="pack-json"
            onClick={() => void saveFile(query("json"), `evidence-pack-${from}-${to}.json`).then(setError)}>{t("evidence.download_json")}</button>
          <button type="button" class="ghost" disabled={!pupil} data-testid="pack-pdf"
            onClick={() => void saveFile(query("pdf"), `evidence-pack-${from}-${to}.pdf`).then(setError)}>{t("evidence.download_pdf")}</button>
        </div>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {pack && (
        <div class="panel" data-testid="pack-shown">
          <h3>{t("evidence.pack_of", { name: String(pack.pupil.name), from: String(pack.from), to: String(pack.to) })}</h3>
          <p data-testid="pack-proofs">{t("evidence.proofs", { verified: pack.proofs.verified ?? 0,
            pending: pack.proofs.pending ?? 0, failed: pack.proofs.failed ?? 0 })}</p>
          <h4>{t("evidence.custody")}</h4>
          {pack.custody.length === 0 ? <p class="hint">{t("evidence.none")}</p>
            : <PackRows entries={pack.custody as PackEntry[]} tz={tz} />}
          <h4>{t("evidence.incidents")}</h4>
          {pack.incidents.length === 0 ? <p class="hint">{t("evidence.none")}</p> : pack.incidents.map((i) => (
            <div key={String(i.incident_id)} data-testid="pack-incident">
              <p>{known("teacher.kind", String(i.kind), "evidence.what.other")} · {String(i.description)}</p>
              <PackRows entries={i.events as PackEntry[]} tz={tz} />
            </div>
          ))}
          <h4>{t("evidence.alerts")}</h4>
          {pack.alerts.length === 0 ? <p class="hint">{t("evidence.none")}</p> : pack.alerts.map((a) => (
            <div key={String(a.alert_id)} data-testid="pack-alert">
              <p>{known("alert.kind", String(a.kind), "alert.kind.other")} · {String(a.detail ?? "")}</p>
              <PackRows entries={a.events as PackEntry[]} tz={tz} />
            </div>
          ))}
          <h4>{t("evidence.keys")}</h4>
          <ul>{pack.keys.map((k) => <li key={k.key_id}><code>{k.key_id}</code> · {t("evidence.valid", {
            from: when(k.valid_from, tz), until: k.valid_until ? when(k.valid_until, tz) : t("evidence.now") })}</li>)}</ul>
        </div>
      )}
    </section>
  );
}

export function Verification({ tz }: { tz: string }) {
  const [status, setStatus] = useState<Verified | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function check() {
    setBusy(true);
    setError(null);
    const { data, response } = await api.GET("/v1/evidence/verification");
    setBusy(false);
    if (data) setStatus(data);
    else setError(t("error.server", { status: response.status }));
  }
  useEffect(() => {
    void check();
  }, []);
  const last = status?.last_checkpoint;
  return (
    <section class="evidence" data-testid="verification">
      <div class="panel">
        <h2>{t("evidence.verification")}</h2>
        {status && (
          <p class={`result ${status.ok ? "result-ok" : "result-bad"}`} role="status" data-testid="verification-result"
            data-ok={String(status.ok)}>
            {status.ok ? t("evidence.verified_ok", { events: status.events, checkpoints: status.checkpoints_verified })
              : t("evidence.verified_bad", { kind: String(status.first_fault?.kind ?? ""), position: String(status.first_fault?.position ?? "—") })}
          </p>
        )}
        {status && (
          <dl class="evidence-facts">
            <div><dt>{t("evidence.last_checkpoint")}</dt><dd data-testid="verification-checkpoint">{last
              ? t("evidence.checkpoint_line", { seq: last.seq, position: last.position, at: when(last.at, tz) }) : t("evidence.none")}</dd></div>
            <div><dt>{t("evidence.current_key")}</dt><dd data-testid="verification-key">{status.current_key
              ? `${status.current_key.key_id} · ${t("evidence.valid", { from: when(status.current_key.valid_from, tz), until: t("evidence.now") })}`
              : t("evidence.none")}</dd></div>
            <div><dt>{t("evidence.verified_at")}</dt><dd>{when(status.verified_at, tz)}</dd></div>
          </dl>
        )}
        {status && !status.ok && <pre class="evidence-report" data-testid="verification-report">{status.report.join("\n")}</pre>}
        <button type="button" class="ghost" disabled={busy} data-testid="verification-again" onClick={() => void check()}>{t("evidence.verify_again")}</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}

export function AccessRecord({ pupils, tz, names }: { pupils: RosterPupil[]; tz: string; names: Map<string, string> }) {
  const staff = useStaff();
  const [pupil, setPupil] = useState<string | null>(null);
  const [who, setWho] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [reads, setReads] = useState<AccessRead[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function run(offset: number) {
    setError(null);
    const query = { pupil: pupil ?? undefined, staff: who || undefined, from: from || undefined, to: to || undefined,
      limit: 100, offset };
    const { data, response } = await api.GET("/v1/access-log", { params: { query } });
    if (!data) {
      setError(t("error.server", { status: response.status }));
      return;
    }
    setReads(offset === 0 ? data.reads : [...(reads ?? []), ...data.reads]);
    setNext(data.next_offset ?? null);
  }
  return (
    <section class="evidence" data-testid="access-record">
      <div class="panel">
        <h2>{t("evidence.access")}</h2>
        <PupilPicker pupils={pupils} value={pupil} onPick={setPupil} testid="access" />
        <label>{t("evidence.reader")}
          <select value={who} data-testid="access-staff" onChange={(e) => setWho((e.target as HTMLSelectElement).value)}>
            <option value="">{t("evidence.anyone")}</option>
            {staff.map((s) => <option key={s.staff_id} value={s.staff_id}>{s.name}</option>)}
          </select>
        </label>
        <div class="row-actions">
          <label>{t("evidence.from")}<input type="datetime-local" value={from} data-testid="access-from" onInput={(e) => setFrom((e.target as HTMLInputElement).value)} /></label>
          <label>{t("evidence.to")}<input type="datetime-local" value={to} data-testid="access-to" onInput={(e) => setTo((e.target as HTMLInputElement).value)} /></label>
        </div>
        <button type="button" class="primary" data-testid="access-run" onClick={() => void run(0)}>{t("evidence.run")}</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {reads && (
        <div class="panel">
          <h3>{t("evidence.reads", { n: reads.length })}</h3>
          <table class="evidence-table" data-testid="access-reads">
            <thead><tr><th>{t("evidence.col.when")}</th><th>{t("evidence.col.reader")}</th><th>{t("evidence.col.read")}</th>
              <th>{t("evidence.col.pupils")}</th><th>{t("evidence.col.data")}</th><th>{t("evidence.col.device")}</th></tr></thead>
            <tbody>
              {reads.map((r, i) => (
                <tr key={`${r.record_id}-${i}`} data-testid="access-read">
                  <td class="nowrap">{when(r.at, tz)}</td><td class="nowrap">{r.staff_name}</td>
                  <td class="nowrap">{known("evidence.read", r.what, "evidence.read.other")}</td>
                  <td>{pupilNames(r.pupil_ids, names, pupil)}</td>
                  <td>{r.data.map((d) => known("evidence.data", d, "evidence.data.other")).join("、")}</td><td class="device">{r.device ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {next !== null && <button type="button" class="ghost" data-testid="access-more" onClick={() => void run(next)}>{t("evidence.more")}</button>}
        </div>
      )}
    </section>
  );
}
