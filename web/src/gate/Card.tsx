// A pupil's card at the gate: who may collect today, who must not (in red, with what to do),
// a going-home-alone statement, and the release in two taps: the adult, then how they were checked.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Pupil, RosterPupil, School } from "../api/client";
import { known, t, type MessageKey } from "../i18n";
import { zh } from "../i18n/zh";
import { submit, type Outcome, type Queued } from "../queue";
import { clock } from "../time";
import { usePupilPhoto } from "../admin/photo";
import { atGate, type Collector, collectorsToday, phonedIn, restrictionsToday, siblings, statementToday } from "./rules";

const CHECKS = ["known_to_staff", "id_card", "pickup_code", "call_to_guardian"] as const;
const REASONS = ["refuse.reason.not_authorised", "refuse.reason.identity", "refuse.reason.unfit", "refuse.reason.restricted"] as const;

interface Props {
  row: RosterPupil;
  detail: Pupil | null;
  loading: boolean;
  school: School;
  gateId: string;
  day: string;
  session: string;
  rows: RosterPupil[];
  details: Map<string, Pupil>;
  queue: Queued[];
  onPupil: (p: Pupil) => void;
  onClose: () => void;
  onOutcome: (outcome: Outcome, pupilIds: string[]) => void;
  actingAs?: string; // who a release made here is recorded under (the tablet's guard on duty)
}

type Result = { tone: "ok" | "queued" | "bad"; text: string };

function outcomeText(o: Outcome, names: string[], tz: string): Result {
  if (o.ok) return { tone: "ok", text: t(o.item.command.kind === "refusal" ? "card.refused.ack" : "card.released.ack", { names: names.join("、") }) };
  if (o.offline) return { tone: "queued", text: t("card.queued", { names: names.join("、") }) };
  return { tone: "bad", text: problemText(o.item.problem, tz) };
}

export function problemText(p: Queued["problem"], tz: string): string {
  if (!p) return t("problem.unknown");
  if (p.code === "conflict" && p.gone) {
    const what = t(`gone.${p.gone.how}` as MessageKey, { time: clock(p.gone.at, tz), adult: p.gone.adult ?? "" });
    return `${t("problem.conflict.gone")}${what}`;
  }
  if (p.code === "release-refused") {
    return t("problem.release-refused", { reasons: p.reasons.map((r) => known("reason", r, "reason.other")).join("、") });
  }
  return known("problem", p.code, "problem.unknown");
}

export function Card(props: Props) {
  const { row, detail, school, gateId, day } = props;
  const tz = school.timezone;
  const [adult, setAdult] = useState<Collector | null>(null);
  const [together, setTogether] = useState<Set<string>>(new Set());
  const [mode, setMode] = useState<"release" | "refuse" | "call">("release");
  const [caller, setCaller] = useState<string | null>(null);
  const [callAdult, setCallAdult] = useState({ name: "", relation: "", idTail: "" });
  const [result, setResult] = useState<Result | null>(null);
  const [busy, setBusy] = useState(false);
  const [refuser, setRefuser] = useState("");
  const [reasonKey, setReasonKey] = useState<MessageKey | null>(null);
  const [reasonText, setReasonText] = useState("");
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [row.pupil_id]);
  useEffect(() => {
    setAdult(null);
    setTogether(new Set());
    setResult(null);
    setMode("release");
  }, [row.pupil_id]);

  const here = atGate(row, gateId);
  const photo = usePupilPhoto(row.pupil_id, detail?.photo_sha256) ?? detail?.photo;
  const collectors = detail ? [...collectorsToday(detail, day), ...phonedIn(props.queue, row.pupil_id)] : [];
  const restrictions = detail ? restrictionsToday(detail, day) : [];
  const statement = detail ? statementToday(detail, day) : null;
  const others = adult ? siblings(adult, row.pupil_id, props.rows.filter((r) => atGate(r, gateId)), props.details, day) : [];

  async function release(check: (typeof CHECKS)[number]) {
    if (!adult || busy) return;
    const ids = [row.pupil_id, ...others.filter((o) => together.has(o.pupil_id)).map((o) => o.pupil_id)];
    const names = ids.map((id) => props.rows.find((r) => r.pupil_id === id)?.name ?? id);
    setBusy(true);
    // One pupil and a collector on file: by its id. Siblings, or an authorisation phoned in
    // while offline and still queued before this release: by the adult's name (and ID tail).
    const body = ids.length === 1 && adult.id
      ? { pupil_ids: ids, gate_id: gateId, identity_check: check, collector_id: adult.id, session: props.session }
      : { pupil_ids: ids, gate_id: gateId, identity_check: check, session: props.session,
          adult: { name: adult.name, relation: adult.relation, id_tail: adult.idTail ?? null } };
    const outcome = await submit({ kind: "release", body }, names, adult.name);
    setBusy(false);
    setResult(outcomeText(outcome, names, tz));
    props.onOutcome(outcome, ids);
  }

  async function refuse(e: Event) {
    e.preventDefault();
    const name = refuser.trim();
    if (!name || !(reasonKey || reasonText.trim()) || busy) return;
    const reason = [reasonKey ? zh[reasonKey] : "", reasonText.trim()].filter(Boolean).join("：");
    setBusy(true);
    const outcome = await submit({
      kind: "refusal", body: { pupil_id: row.pupil_id, adult: { name }, reason, gate_id: gateId, session: props.session },
    }, [row.name], name);
    setBusy(false);
    setResult(outcomeText(outcome, [row.name], tz));
    props.onOutcome(outcome, [row.pupil_id]);
  }

  async function phoneIn(e: Event) {
    e.preventDefault();
    const name = callAdult.name.trim();
    const tail = callAdult.idTail.trim().toUpperCase();
    if (!caller || !name || busy || (tail && !/^[0-9X]{4}$/.test(tail))) return;
    setBusy(true);
    const outcome = await submit({
      kind: "phone_authorisation", pupilId: row.pupil_id,
      body: { guardian_id: caller, adult: { name, relation: callAdult.relation.trim() || null, id_tail: tail || null } },
    }, [row.name], name);
    setBusy(false);
    if (outcome.ok) {
      props.onPupil(outcome.body as Pupil);
      setResult({ tone: "ok", text: t("call.ack", { adult: name }) });
    } else {
      setResult(outcomeText(outcome, [row.name], tz));
    }
    if (outcome.ok || outcome.offline) {
      setMode("release");
      setAdult(null);
      setCallAdult({ name: "", relation: "", idTail: "" });
    }
  }

  async function homeAlone() {
    if (busy) return;
    setBusy(true);
    const outcome = await submit({ kind: "home_alone", body: { pupil_id: row.pupil_id, gate_id: gateId, session: props.session } }, [row.name], null);
    setBusy(false);
    setResult(outcome.ok ? { tone: "ok", text: t("card.home_alone.ack", { name: row.name }) } : outcomeText(outcome, [row.name], tz));
    props.onOutcome(outcome, [row.pupil_id]);
  }

  return (
    <section class="card" aria-labelledby="card-name" data-testid="card">
      <header class="card-head">
        {photo && <img class="photo" src={photo} alt={t("card.photo", { name: row.name })} data-testid="card-photo" />}
        <div class="card-title">
          <h2 id="card-name" tabIndex={-1} ref={heading}>{row.name}</h2>
          <p class="sub">{row.class_label ?? ""}{detail ? ` · ${detail.gender}` : ""}</p>
        </div>
        <button class="ghost" type="button" onClick={props.onClose} data-testid="card-close">{t("card.close")}</button>
      </header>

      {restrictions.map((r) => (
        <div class="restriction" role="alert" data-testid="restriction" key={r.restriction_id}>
          <p class="restriction-title">{t("card.restriction.title")}</p>
          <p class="restriction-name">{r.name}{r.id_tail ? ` · ${t("card.id_tail", { tail: r.id_tail })}` : ""}</p>
          <p class="restriction-do">{known("instruction", r.instruction ?? "", "instruction.default")}</p>
        </div>
      ))}

      <p class={`state state-${row.status}`} data-testid="card-state">{stateText(row, gateId, tz)}</p>
      {here && props.actingAs && row.custodian && row.custodian.staff_id !== props.actingAs && (
        <p class="warn" role="alert" data-testid="held-by-other">{t("card.held_by_other", { by: row.custodian.name })}</p>
      )}
      {!detail && <p class="hint">{props.loading ? t("card.loading") : t("card.no_file")}</p>}

      {detail && here && mode === "release" && (
        <>
          <h3>{t("card.collectors")}</h3>
          {collectors.length === 0 && <p class="hint">{t("card.no_collectors")}</p>}
          <div class="choices" role="group" aria-label={t("card.collectors")}>
            {collectors.map((c) => (
              <button type="button" key={c.id || `queued-${c.name}`} class={`choice ${adult === c || (adult?.id && adult.id === c.id) ? "chosen" : ""}`}
                aria-pressed={adult === c || (!!adult?.id && adult.id === c.id)} data-testid="collector" onClick={() => { setAdult(c); setResult(null); }}>
                <span class="who">{c.name}</span>
                <span class="rel">{c.relation ?? ""}{c.kind === "one_day" ? ` · ${t("card.one_day")}` : c.kind === "authorised" ? ` · ${t("card.authorised")}` : ""}</span>
              </button>
            ))}
          </div>
          {adult && others.length > 0 && (
            <div class="siblings">
              <h3>{t("card.siblings", { adult: adult.name })}</h3>
              {others.map((o) => (
                <label class="check" key={o.pupil_id}>
                  <input type="checkbox" checked={together.has(o.pupil_id)} data-testid="sibling"
                    onChange={() => { const n = new Set(together); if (n.has(o.pupil_id)) n.delete(o.pupil_id); else n.add(o.pupil_id); setTogether(n); }} />
                  {o.name} · {o.class_label}
                </label>
              ))}
            </div>
          )}
          {adult && (
            <>
              <h3>{t("card.check", { adult: adult.name })}</h3>
              <div class="checks" role="group" aria-label={t("card.check", { adult: adult.name })}>
                {CHECKS.map((c) => (
                  <button type="button" class="primary big" key={c} disabled={busy} data-testid={`check-${c}`} onClick={() => void release(c)}>
                    {t(`check.${c}` as MessageKey)}
                  </button>
                ))}
              </div>
            </>
          )}
          <div class="row-actions">
            {statement && (
              <button type="button" class="secondary big" disabled={busy} data-testid="home-alone" onClick={() => void homeAlone()}>
                {t("card.home_alone")}
              </button>
            )}
            <button type="button" class="ghost big" data-testid="call-open" onClick={() => { setMode("call"); setResult(null); setCaller(detail.guardians?.[0]?.guardian_id ?? null); }}>
              {t("card.call")}
            </button>
            <button type="button" class="danger big" data-testid="refuse-open" onClick={() => {
              // The adult on the do-not-release list is the likely one at the gate: named already.
              const barred = adult ? null : restrictions[0];
              setMode("refuse");
              setRefuser(adult?.name ?? barred?.name ?? "");
              setReasonKey(barred ? "refuse.reason.restricted" : null);
              setResult(null);
            }}>
              {t("card.refuse")}
            </button>
          </div>
        </>
      )}
      {detail && statement && <p class="statement" data-testid="statement">{t("card.statement", { days: statement.weekdays.map((d) => t(`weekday.${d}` as MessageKey)).join("") })}</p>}

      {detail && here && mode === "refuse" && (
        <form class="refuse" onSubmit={refuse} data-testid="refuse-form">
          <h3>{t("refuse.title")}</h3>
          <label for="refuser">{t("refuse.adult")}</label>
          <input id="refuser" value={refuser} data-testid="refuse-adult" onInput={(e) => setRefuser((e.target as HTMLInputElement).value)} />
          <fieldset>
            <legend>{t("refuse.reason")}</legend>
            <div class="choices">
              {REASONS.map((k) => (
                <button type="button" key={k} class={`choice ${reasonKey === k ? "chosen" : ""}`} aria-pressed={reasonKey === k}
                  data-testid="refuse-reason" onClick={() => setReasonKey(k)}>{t(k)}</button>
              ))}
            </div>
          </fieldset>
          <label for="refuse-note">{t("refuse.note")}</label>
          <input id="refuse-note" value={reasonText} onInput={(e) => setReasonText((e.target as HTMLInputElement).value)} />
          <div class="row-actions">
            <button type="button" class="ghost big" onClick={() => setMode("release")}>{t("refuse.back")}</button>
            <button type="submit" class="danger big" disabled={busy || !refuser.trim() || !(reasonKey || reasonText.trim())} data-testid="refuse-submit">
              {t("refuse.submit")}
            </button>
          </div>
        </form>
      )}

      {detail && here && mode === "call" && (
        <form class="refuse" onSubmit={phoneIn} data-testid="call-form">
          <h3>{t("call.title")}</h3>
          <fieldset>
            <legend>{t("call.who_called")}</legend>
            <div class="choices">
              {(detail.guardians ?? []).map((g) => (
                <button type="button" key={g.guardian_id} class={`choice ${caller === g.guardian_id ? "chosen" : ""}`}
                  aria-pressed={caller === g.guardian_id} onClick={() => setCaller(g.guardian_id)}>
                  <span class="who">{g.name}</span><span class="rel">{g.relation}</span>
                </button>
              ))}
            </div>
          </fieldset>
          <label for="call-name">{t("call.adult")}</label>
          <input id="call-name" value={callAdult.name} data-testid="call-adult" onInput={(e) => setCallAdult({ ...callAdult, name: (e.target as HTMLInputElement).value })} />
          <label for="call-relation">{t("call.relation")}</label>
          <input id="call-relation" value={callAdult.relation} onInput={(e) => setCallAdult({ ...callAdult, relation: (e.target as HTMLInputElement).value })} />
          <label for="call-tail">{t("call.id_tail")}</label>
          <input id="call-tail" inputMode="numeric" maxLength={4} value={callAdult.idTail} onInput={(e) => setCallAdult({ ...callAdult, idTail: (e.target as HTMLInputElement).value })} />
          <div class="row-actions">
            <button type="button" class="ghost big" onClick={() => setMode("release")}>{t("refuse.back")}</button>
            <button type="submit" class="primary big" disabled={busy || !caller || !callAdult.name.trim()} data-testid="call-submit">{t("call.submit")}</button>
          </div>
        </form>
      )}

      {result && <p class={`result result-${result.tone}`} role="status" data-testid={`result-${result.tone}`}>{result.text}</p>}
    </section>
  );
}

function stateText(row: RosterPupil, gateId: string, tz: string): string {
  if (row.status === "gone" && row.gone) {
    return t(`gone.${row.gone.how}` as MessageKey, { time: clock(row.gone.at, tz), adult: String(row.gone.adult?.name ?? "") });
  }
  if (atGate(row, gateId)) return t("state.here", { by: row.custodian?.name ?? "" });
  if (row.pending?.place.id === gateId) return t("state.coming", { by: row.custodian?.name ?? row.pending.to.name });
  if (row.status === "absent") return t("state.absent");
  if (row.status === "in_custody") return t("state.elsewhere", { place: row.place?.label ?? "", by: row.custodian?.name ?? "" });
  if (row.status === "passed_on") return t("state.passed_on");
  return t("state.not_handed_over");
}
