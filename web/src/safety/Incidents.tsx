// The day's incidents: what happened, every step (guardians told or tried, escalations, actions,
// closing), and, for the roles that may, recording a guardian call, an action, an escalation and
// the closing outcome.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, type Problem, type Schemas } from "../api/client";
import { ACCEPTED, type AttachmentOut, attachmentUrl, MAX_BYTES, uploadAttachment } from "../attachments";
import { known, type MessageKey, t } from "../i18n";
import { zh } from "../i18n/zh";
import { clock } from "../time";
import { IncidentTimeline } from "./AsOf";

type Incident = Schemas["IncidentOut"];
type Summary = Schemas["IncidentSummary"];
type Step = Incident["steps"][number] & Record<string, unknown>;

function stepText(s: Step, names: Map<string, string>): string {
  const pupil = typeof s.pupil_id === "string" ? names.get(s.pupil_id) ?? "" : "";
  switch (s.step) {
    case "guardian_notified":
      return t(s.reached ? "incident.told" : "incident.not_reached", {
        pupil, guardian: String(s.guardian ?? ""), how: known("incident.how", String(s.how ?? ""), "incident.how.other"),
      }) + (s.note ? `：${String(s.note)}` : "");
    case "escalated":
      return t("incident.escalated_to", { to: (s.to as string[] | undefined ?? []).join("、") }) + (s.note ? `：${String(s.note)}` : "");
    case "action":
      return String(s.text ?? "");
    case "closed":
      return String(s.outcome ?? "");
    case "guardian_acknowledged":
      return pupil + (s.note ? `：${String(s.note)}` : "");
    case "attached":
      return String((s.attachment as { file_name?: string } | undefined)?.file_name ?? "");
    case "corrected":
      return t("incident.corrects", { seq: Number(s.corrects ?? 0) }) + (s.reason ? `：${String(s.reason)}` : "");
    default:
      return "";
  }
}

function Write({ incident, names, onChanged }: { incident: Incident; names: Map<string, string>; onChanged: (i: Incident) => void }) {
  const pending = incident.guardians_pending;
  const [pupil, setPupil] = useState(pending[0] ?? incident.pupil_ids[0] ?? "");
  const [guardian, setGuardian] = useState("");
  const [how, setHow] = useState<"phone" | "in_person" | "message">("phone");
  const [reached, setReached] = useState(true);
  const [text, setText] = useState("");
  const [to, setTo] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const path = { path: { incident_id: incident.incident_id } };
  const [family, setFamily] = useState<{ name: string; relation: string | null; phone: string | null }[]>([]);
  useEffect(() => {
    // The pupil's guardians, to tap rather than type (and their phone, to call).
    if (!pupil) return;
    let gone = false;
    void api.GET("/v1/pupils/{pupil_id}", { params: { path: { pupil_id: pupil } } }).then(({ data }) => {
      if (!gone) setFamily((data?.guardians ?? []).map((g) => ({ name: g.name, relation: g.relation ?? null, phone: g.phone ?? null })));
    });
    return () => {
      gone = true;
    };
  }, [pupil]);

  async function run(call: () => Promise<{ data?: Incident; error?: unknown; response: Response }>) {
    setBusy(true);
    setError(null);
    try {
      const { data, error: problem, response } = await call();
      if (data) {
        setText("");
        setTo("");
        setGuardian("");
        onChanged(data);
      } else {
        const p = problem as Problem | undefined;
        setError(p?.detail ?? p?.title ?? t("error.server", { status: response.status }));
      }
    } catch {
      setError(t("signin.offline"));
    } finally {
      setBusy(false);
    }
  }
  const headers = () => ({ "Idempotency-Key": crypto.randomUUID() });
  const step = (kind: "action" | "escalate" | "close") => run(() => api.POST("/v1/incidents/{incident_id}/steps", {
    params: path, headers: headers(),
    body: kind === "escalate" ? { step: kind, text: text.trim(), to: to.split(/[、,，;；]/).map((x) => x.trim()).filter(Boolean) } : { step: kind, text: text.trim() },
  }));

  return (
    <div class="incident-write" data-writes="incident">
      {incident.pupil_ids.length > 0 && (
        <form class="panel" data-testid="guardian-form" onSubmit={(e) => {
          e.preventDefault();
          void run(() => api.POST("/v1/incidents/{incident_id}/guardian-notifications", {
            params: path, headers: headers(), body: { pupil_id: pupil, guardian: guardian.trim(), how, reached, note: "" },
          }));
        }}>
          <h3>{t("incident.tell")}</h3>
          <label>{t("incident.pupil")}
            <select value={pupil} onChange={(e) => setPupil((e.target as HTMLSelectElement).value)}>
              {incident.pupil_ids.map((id) => <option key={id} value={id}>{names.get(id) ?? id}</option>)}
            </select>
          </label>
          {family.length > 0 && (
            <div class="choices" role="group" aria-label={t("incident.guardian")}>
              {family.map((g) => (
                <button key={g.name} type="button" class={`choice ${guardian === g.name ? "chosen" : ""}`} data-testid="guardian-pick"
                  aria-pressed={guardian === g.name} onClick={() => setGuardian(g.name)}>
                  <span class="who">{g.name}</span>
                  <span class="rel">{[g.relation, g.phone].filter(Boolean).join(" · ")}</span>
                </button>
              ))}
            </div>
          )}
          <label>{t("incident.guardian")}
            <input type="text" required maxLength={100} value={guardian} data-testid="guardian-name"
              onInput={(e) => setGuardian((e.target as HTMLInputElement).value)} />
          </label>
          <label>{t("incident.how")}
            <select value={how} onChange={(e) => setHow((e.target as HTMLSelectElement).value as typeof how)}>
              {(["phone", "in_person", "message"] as const).map((h) => <option key={h} value={h}>{t(`incident.how.${h}`)}</option>)}
            </select>
          </label>
          <label class="check">
            <input type="checkbox" checked={reached} onChange={(e) => setReached((e.target as HTMLInputElement).checked)} />
            {t("incident.reached")}
          </label>
          <button class="primary" type="submit" disabled={busy} data-testid="guardian-submit">{t("incident.tell.submit")}</button>
        </form>
      )}
      {incident.status === "open" && (
        <div class="panel">
          <label>{t("incident.text")}
            <input type="text" maxLength={2000} value={text} data-testid="step-text"
              onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          </label>
          <div class="row-actions">
            <button type="button" class="ghost" disabled={busy || !text.trim()} data-testid="step-action" onClick={() => void step("action")}>{t("incident.action")}</button>
            <button type="button" class="secondary" disabled={busy || !text.trim() || pending.length > 0} data-testid="step-close"
              onClick={() => void step("close")}>{t("incident.close")}</button>
          </div>
          <label>{t("incident.to")}
            <input type="text" maxLength={200} value={to} data-testid="step-to"
              onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
          </label>
          <div class="row-actions">
            <button type="button" class="ghost" disabled={busy || !to.trim()} data-testid="step-escalate" onClick={() => void step("escalate")}>{t("incident.escalate")}</button>
          </div>
          {pending.length > 0 && <p class="hint">{t("incident.close.wait")}</p>}
        </div>
      )}
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

function Thumb({ incidentId, a }: { incidentId: string; a: AttachmentOut }) {
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (!a.readable || !a.media_type.startsWith("image/")) return;
    let url: string | null = null;
    let gone = false;
    attachmentUrl(incidentId, a.sha256, true).then((u) => {
      if (gone) URL.revokeObjectURL(u);
      else setSrc((url = u));
    }, () => setFailed(true));
    return () => {
      gone = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [incidentId, a.sha256, a.readable]);
  async function open() {
    const url = await attachmentUrl(incidentId, a.sha256, false);
    const link = document.createElement("a");
    link.href = url;
    if (a.media_type === "application/pdf") link.download = a.file_name;
    else link.target = "_blank";
    link.rel = "noopener";
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }
  const shape = a.pages ? t("incident.attachment.pages", { pages: a.pages })
    : a.width && a.height ? `${a.width}×${a.height}` : "";
  return (
    <li class={`attachment ${a.voided ? "voided" : ""}`} data-testid="attachment" data-sha256={a.sha256} data-media-type={a.media_type}>
      {src ? <img src={src} alt={a.caption || a.file_name} data-testid="attachment-thumb" width={160} />
        : <span class="attachment-icon" aria-hidden="true">{a.media_type === "application/pdf" ? "📄" : "🖼"}</span>}
      <span class="sub" title={`${a.media_type}, ${a.size} B, SHA-256 ${a.sha256}`}>{a.file_name} · {shape}{a.caption ? ` · ${a.caption}` : ""}{a.voided ? ` · ${t("incident.attachment.voided")}` : ""}</span>
      {a.readable
        ? <button type="button" class="ghost" data-testid="attachment-open" onClick={() => void open()}>{t("incident.attachment.open")}</button>
        : <span class="hint">{t("incident.attachment.not_readable")}</span>}
      {failed && <span class="error">{t("incident.attachment.failed")}</span>}
    </li>
  );
}

/** Why the service kept no file, in the screen's words (never the decoder's own text). */
function refusal(name: string, status: number, code: string): string {
  if (code === "too-large" || status === 413) return t("incident.attachment.too_large", { name });
  const key = `incident.attachment.problem.${code}`;
  return key in zh ? t(key as MessageKey, { name })
    : t("incident.attachment.refused", { name, detail: t("error.server", { status }) });
}

function Attach({ incident, onChanged }: { incident: Incident; onChanged: (i: Incident) => void }) {
  const [busy, setBusy] = useState(false);
  const [caption, setCaption] = useState("");
  const [said, setSaid] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  async function chosen(input: HTMLInputElement) {
    const files = [...(input.files ?? [])];
    input.value = "";
    setBusy(true);
    setSaid(null);
    try {
      for (const file of files) {
        if (file.size > MAX_BYTES) {
          setSaid(t("incident.attachment.too_large", { name: file.name }));
          continue;
        }
        const out = await uploadAttachment(incident.incident_id, file, caption);
        if (out.ok) onChanged(out.incident);
        else setSaid(refusal(file.name, out.status, out.code));
      }
      setCaption("");
    } catch {
      setSaid(t("signin.offline"));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="panel" data-writes="attachment">
      <label>{t("incident.attachment.caption")}
        <input type="text" maxLength={200} value={caption} data-testid="attachment-caption"
          onInput={(e) => setCaption((e.target as HTMLInputElement).value)} />
      </label>
      <input ref={picker} type="file" accept={ACCEPTED} multiple class="file-input" data-testid="attachment-file"
        aria-label={t("incident.attachment.add")} onChange={(e) => void chosen(e.target as HTMLInputElement)} />
      <button type="button" class="secondary" disabled={busy} data-testid="attachment-add" onClick={() => picker.current?.click()}>
        {busy ? t("incident.attachment.uploading") : t("incident.attachment.add")}
      </button>
      {said && <p class="error" role="alert" data-testid="attachment-said">{said}</p>}
    </div>
  );
}

export function Incidents({ tz, names, canWrite, position }: {
  tz: string; names: Map<string, string>; canWrite: boolean; position: number;
}) {
  const [list, setList] = useState<Summary[] | null>(null);
  const [open, setOpen] = useState<Incident | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [timeline, setTimeline] = useState(false);

  const load = useCallback(async () => {
    const { data, response } = await api.GET("/v1/incidents");
    if (data) setList(data.incidents);
    else setError(t("error.server", { status: response.status }));
  }, []);
  useEffect(() => {
    void load();
  }, [load, position]);

  async function show(id: string) {
    const { data, response } = await api.GET("/v1/incidents/{incident_id}", { params: { path: { incident_id: id } } });
    if (data) setOpen(data);
    else setError(t("error.server", { status: response.status }));
  }

  const pupilsOf = (ids: string[]) => ids.map((id) => names.get(id) ?? "?").join("、");
  return (
    <section class="incidents" data-testid="incidents">
      {error && <p class="error" role="alert">{error}</p>}
      {list && list.length === 0 && <p class="hint">{t("incident.none")}</p>}
      <ul>
        {(list ?? []).map((i) => (
          <li key={i.incident_id}>
            <button type="button" class={`incident-row ${i.status}`} data-testid="incident" aria-expanded={open?.incident_id === i.incident_id}
              onClick={() => void show(i.incident_id)}>
              <span class="who">{known("incident.kind", i.kind, "incident.kind.other")} · {pupilsOf(i.pupil_ids)}</span>
              <span class={`badge badge-${i.status === "open" ? "open" : "resolved"}`}>{t(`incident.status.${i.status}`)}</span>
              <span class="rel">{clock(i.reported_at, tz)} · {t(`incident.severity.${i.severity}`)}</span>
            </button>
          </li>
        ))}
      </ul>
      {open && (
        <article class="card" data-testid="incident-detail">
          <div class="card-head">
            <h2>{known("incident.kind", open.kind, "incident.kind.other")} · {pupilsOf(open.pupil_ids)}</h2>
            <button type="button" class="ghost" onClick={() => setOpen(null)}>{t("card.close")}</button>
          </div>
          <p>{open.description}</p>
          {open.where && <p class="sub">{open.where}</p>}
          {open.first_aid && <p class="sub">{t("incident.first_aid", { name: open.first_aid.given_by.name, note: open.first_aid.note })}</p>}
          {open.guardians_pending.length > 0 && (
            <p class="warn" data-testid="guardians-pending">{t("incident.pending", { names: pupilsOf(open.guardians_pending) })}</p>
          )}
          <ol class="history" data-testid="incident-steps">
            {(open.steps as Step[]).map((s) => (
              <li key={s.seq} data-testid="incident-step" data-step={s.step} class={open.voided.includes(s.seq) ? "voided" : ""}>
                <time>{typeof s.by.at === "string" ? clock(s.by.at, tz) : ""}</time>{" "}
                <strong>{known("incident.step", s.step, "incident.step.other")}</strong>
                {" · "}{String(s.by.staff_name ?? "")}
                {stepText(s, names) && <> · {stepText(s, names)}</>}
              </li>
            ))}
          </ol>
          <button type="button" class="ghost" data-testid="incident-timeline-open" aria-expanded={timeline}
            onClick={() => setTimeline(!timeline)}>{t("incident.timeline")}</button>
          {timeline && <IncidentTimeline key={`${open.incident_id}/${open.version}`} incidentId={open.incident_id} tz={tz} names={names} />}
          {(open.attachments ?? []).length > 0 && (
            <>
              <h3>{t("incident.attachments")}</h3>
              <ul class="attachments" data-testid="attachments">
                {(open.attachments ?? []).map((a) => <Thumb key={a.sha256} incidentId={open.incident_id} a={a} />)}
              </ul>
            </>
          )}
          {canWrite && <Attach incident={open} onChanged={(i) => { void show(i.incident_id); void load(); }} />}
          {open.status === "closed" && <p class="state state-gone">{t("incident.closed", { outcome: open.outcome ?? "" })}</p>}
          {canWrite && <Write incident={open} names={names} onChanged={(i) => { setOpen(i); void load(); }} />}
        </article>
      )}
    </section>
  );
}
