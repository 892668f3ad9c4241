// The day's alerts, oldest open first, each with its history (raised, every escalation step
// and whom it told, acknowledged, resolved, by whom and when); acknowledging and resolving with
// a note for the roles that may, nothing that writes for the others.
import { useState } from "preact/hooks";
import { api, type Problem, problemCode } from "../api/client";
import { known, t } from "../i18n";
import { clock } from "../time";
import { acceptLanguage, type Alert } from "./live";

const HOWS = ["released", "handed_to_guardian", "went_home_alone", "left_early", "found", "no_action_needed", "other"] as const;
type How = (typeof HOWS)[number];

interface ActorRecord {
  staff_name?: string;
  at?: string;
}

/** Minutes since the alert was raised. */
export function ageMinutes(a: Alert, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - new Date(a.raised_at).getTime()) / 60000));
}

/** Open first (oldest first), then acknowledged, then resolved. */
export function byAge(alerts: Alert[]): Alert[] {
  const rank = { open: 0, acknowledged: 1, resolved: 2 } as const;
  return [...alerts].sort((a, b) => rank[a.status] - rank[b.status] || a.raised_at.localeCompare(b.raised_at));
}

function who(record: unknown): string {
  return (record as ActorRecord | null)?.staff_name ?? "";
}

function when(record: unknown, tz: string): string {
  const at = (record as ActorRecord | null)?.at;
  return at ? clock(at, tz) : "";
}

export function AlertHistory({ alert, tz }: { alert: Alert; tz: string }) {
  const ack = alert.acknowledged as ({ note?: string; by?: ActorRecord } | null);
  const res = alert.resolved as ({ how?: string; note?: string; by?: ActorRecord } | null);
  return (
    <ol class="history" data-testid="alert-history">
      <li><time>{clock(alert.raised_at, tz)}</time> {t("alert.raised")}</li>
      {alert.steps.map((s) => (
        <li key={s.level} data-testid="alert-step">
          <time>{clock(s.at, tz)}</time> {known("alert.step", s.step, "alert.step.other")}
          {s.notify.length > 0 && <> · {t("alert.told", { whom: s.notify.map((n) => known("notify", n, "notify.other")).join("、") })}</>}
        </li>
      ))}
      {ack && (
        <li data-testid="alert-acknowledged">
          <time>{when(ack.by, tz)}</time> {t("alert.acknowledged_by", { name: who(ack.by) })}{ack.note ? `：${ack.note}` : ""}
        </li>
      )}
      {res && (
        <li data-testid="alert-resolved">
          <time>{when(res.by, tz)}</time> {t("alert.resolved_by", { name: who(res.by), how: known("how", res.how ?? "", "how.other") })}
          {res.note ? `：${res.note}` : ""}
        </li>
      )}
    </ol>
  );
}

function problemText(p: Problem | null, status: number): string {
  if (!p) return t("error.server", { status });
  const code = problemCode(p);
  return code === "conflict" ? t("alert.conflict") : (p.detail ?? p.title);
}

function Actions({ alert, onChanged }: { alert: Alert; onChanged: (a: Alert) => void }) {
  const [note, setNote] = useState("");
  const [how, setHow] = useState<How>("handed_to_guardian");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = alert.alert_id;

  async function send(kind: "acknowledge" | "resolve") {
    setBusy(true);
    setError(null);
    try {
      const params = { path: { alert_id: id } };
      const headers = { ...acceptLanguage(), "Idempotency-Key": crypto.randomUUID() };
      const { data, error: problem, response } = kind === "acknowledge"
        ? await api.POST("/v1/alerts/{alert_id}/acknowledge", { params, headers, body: { note: note.trim() } })
        : await api.POST("/v1/alerts/{alert_id}/resolve", { params, headers, body: { how, note: note.trim() } });
      if (data) {
        setNote("");
        onChanged(data);
      } else {
        const p = (problem ?? null) as Problem | null;
        setError(problemText(p, response.status));
        // Someone else acknowledged or resolved it first: show it as it now stands.
        const now = p?.current_state as unknown as Alert | null | undefined;
        if (now && typeof now === "object" && now.alert_id === id) onChanged(now);
      }
    } catch {
      setError(t("signin.offline"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="alert-actions" data-testid="alert-actions" data-writes="alert">
      <label>
        <span>{t("alert.note")}</span>
        <input type="text" value={note} maxLength={500} data-testid="alert-note"
          onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
      </label>
      <div class="row-actions">
        {alert.status === "open" && (
          <button type="button" class="primary" disabled={busy} data-testid="acknowledge" onClick={() => void send("acknowledge")}>
            {t("alert.acknowledge")}
          </button>
        )}
        <label class="inline">
          <span>{t("alert.how")}</span>
          <select value={how} data-testid="resolve-how" onChange={(e) => setHow((e.target as HTMLSelectElement).value as How)}>
            {HOWS.map((h) => <option key={h} value={h}>{t(`how.${h}`)}</option>)}
          </select>
        </label>
        <button type="button" class="secondary" disabled={busy} data-testid="resolve" onClick={() => void send("resolve")}>
          {t("alert.resolve")}
        </button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

export function AlertList({ alerts, tz, now, canWrite, onChanged, onPupil }: {
  alerts: Alert[]; tz: string; now: Date; canWrite: boolean; onChanged: (a: Alert) => void;
  onPupil?: (pupilId: string) => void; // offered: the alert's pupil's timeline
}) {
  const [open, setOpen] = useState<string | null>(null);
  if (alerts.length === 0) return <p class="hint" data-testid="no-alerts">{t("alert.none")}</p>;
  return (
    <ul class="alerts">
      {byAge(alerts).map((a) => {
        const age = ageMinutes(a, now);
        const shown = open === a.alert_id;
        const pupilId = typeof a.subject.pupil_id === "string" ? a.subject.pupil_id : null;
        return (
          <li key={a.alert_id} class={`alert alert-${a.status}`} data-testid="alert" data-alert-id={a.alert_id} data-status={a.status}>
            <div class="alert-head">
              <span class={`badge badge-${a.status}`}>{t(`alert.status.${a.status}`)}</span>
              <span class="alert-kind">{known("alert.kind", a.kind, "alert.kind.other")}</span>
              <span class="alert-age">{t("alert.age", { time: clock(a.raised_at, tz), min: age })}</span>
              {a.level > 0 && <span class="badge badge-level">{t("alert.level", { level: a.level })}</span>}
            </div>
            <p class="alert-detail">{a.detail}</p>
            <div class="row-actions start">
              <button type="button" class="ghost" aria-expanded={shown} data-testid="alert-open"
                onClick={() => setOpen(shown ? null : a.alert_id)}>
                {shown ? t("alert.history.hide") : t("alert.history")}
              </button>
              {onPupil && pupilId && (
                <button type="button" class="ghost" data-testid="alert-pupil" onClick={() => onPupil(pupilId)}>
                  {t("alert.pupil_timeline")}
                </button>
              )}
            </div>
            {shown && <AlertHistory alert={a} tz={tz} />}
            {canWrite && a.status !== "resolved" && <Actions alert={a} onChanged={onChanged} />}
          </li>
        );
      })}
    </ul>
  );
}
