// A pupil's afternoon as a timeline: every link of the chain of custody, when, by whom, where.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type RosterPupil, type Schemas } from "../api/client";
import { AlertHistory } from "../board/Alerts";
import type { Alert } from "../board/live";
import { known, t } from "../i18n";
import { search } from "../search";
import { clock } from "../time";

type Afternoon = Schemas["PupilAfternoon"];
type Entry = Afternoon["chain"][number] & Record<string, unknown>;

interface Ref { name?: string; label?: string; staff_name?: string }

function name(x: unknown): string {
  const r = x as Ref | null | undefined;
  return r?.label ?? r?.name ?? r?.staff_name ?? "";
}

function details(e: Entry): string {
  const parts: string[] = [];
  if (e.place) parts.push(t("timeline.at", { place: name(e.place) }));
  if (e.custodian) parts.push(t("timeline.custodian", { name: name(e.custodian) }));
  if (e.to) parts.push(t("timeline.to", { name: name(e.to) }));
  if (e.adult) parts.push(t("timeline.adult", { name: name(e.adult) }));
  if (typeof e.check === "string") parts.push(known("check", e.check, "timeline.check.other"));
  if (typeof e.reason === "string" && e.reason) parts.push(known("reason", e.reason, "reason.other"));
  if (typeof e.note === "string" && e.note) parts.push(e.note);
  return parts.join(" · ");
}

export function Timeline({ pupils, tz, initial, alerts }: {
  pupils: RosterPupil[]; tz: string; initial?: string | null; alerts: Alert[];
}) {
  const [query, setQuery] = useState("");
  const [pupilId, setPupilId] = useState<string | null>(initial ?? null);
  const [afternoon, setAfternoon] = useState<Afternoon | null>(null);
  const [error, setError] = useState<string | null>(null);
  const results = useMemo(() => (query.trim() ? search(query, pupils).slice(0, 8) : []), [query, pupils]);

  useEffect(() => {
    if (initial) setPupilId(initial);
  }, [initial]);
  useEffect(() => {
    if (!pupilId) return;
    let gone = false;
    setAfternoon(null);
    void api.GET("/v1/pupils/{pupil_id}/afternoon", { params: { path: { pupil_id: pupilId } } }).then(({ data, response }) => {
      if (gone) return;
      if (data) setAfternoon(data);
      else setError(t("error.server", { status: response.status }));
    });
    return () => {
      gone = true;
    };
  }, [pupilId]);

  return (
    <section class="timeline" data-testid="timeline">
      <label class="search">
        <span class="label">{t("search.label")}</span>
        <input type="search" value={query} data-testid="timeline-search" autocomplete="off"
          placeholder={t("search.placeholder")} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
      </label>
      {results.length > 0 && (
        <ul class="picks">
          {results.map((r) => (
            <li key={r.pupil_id}>
              <button type="button" class="pupil" data-testid="timeline-pick"
                onClick={() => { setPupilId(r.pupil_id); setQuery(""); }}>
                <span class="who">{r.name}</span><span class="rel">{r.class_label}</span><span class="due" />
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {afternoon && (
        <div data-testid="afternoon">
          <h2>{t("timeline.title", { name: afternoon.name })}</h2>
          <p class="state">{known("status", afternoon.status, "status.other")}</p>
          {afternoon.chain.length === 0 && <p class="hint">{t("timeline.empty")}</p>}
          <ol class="history">
            {(afternoon.chain as Entry[]).map((e) => (
              <li key={e.seq} data-testid="chain-entry" data-type={e.type}>
                <time>{typeof e.by.at === "string" ? clock(e.by.at, tz) : ""}</time>{" "}
                <strong>{known("chain", e.type, "chain.other")}</strong>
                {" · "}{t("timeline.by", { name: name(e.by) })}
                {details(e) && <span class="sub"> · {details(e)}</span>}
              </li>
            ))}
          </ol>
          {alerts.filter((a) => a.subject.pupil_id === afternoon.pupil_id).map((a) => (
            <div key={a.alert_id} class="pupil-alert" data-testid="pupil-alert">
              <h3>{known("alert.kind", a.kind, "alert.kind.other")} · {t(`alert.status.${a.status}`)}</h3>
              <p class="sub">{a.detail}</p>
              <AlertHistory alert={a} tz={tz} />
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
