// Handovers (交接): confirm what is handed to you with your own count (a mismatch said plainly),
// hand your class over, move pupils to a club or back, and walk a group to a gate.
import { useEffect, useState } from "preact/hooks";
import { api, type RosterPupil, type School, type Schemas } from "../api/client";
import type { SignedIn } from "../device";
import { t } from "../i18n";
import { classHandovers, clubsToday, mine, type Offer, offersFrom, offersTo, staffName, withRole } from "./model";
import { Choice, Stepper, Ticks } from "./Parts";
import { type Acted, Absence } from "./Roll";
import { keyed, send, sendQueued, SESSION, useKey } from "./send";

export type HandoverOut = Schemas["HandoverOut"];

interface Props extends Acted {
  me: SignedIn;
  school: School;
  rows: RosterPupil[];
  day: string;
  /** The handovers given or received on this phone today, newest first (kept across the tabs). */
  results: HandoverOut[];
  setResults: (update: (rs: HandoverOut[]) => HandoverOut[]) => void;
}

/** The handover's counts in words: plain when they agree, a plain warning when they do not. */
export function countsText(h: HandoverOut, names?: Map<string, string>): string {
  if (h.status === "withdrawn") return t("teacher.withdraw.done");
  if (h.count_received === null) return t("teacher.handover.waiting", { to: h.to.name, given: h.count_given, named: h.pupil_ids.length });
  if (!h.mismatch) return t("teacher.handover.agreed", { given: h.count_given, received: h.count_received });
  const text = t("teacher.handover.mismatch", { giver: h.giver.name, given: h.count_given, named: h.pupil_ids.length,
    receiver: h.to.name, received: h.count_received, taken: h.received_pupil_ids.length });
  const missing = h.pupil_ids.filter((id) => !h.received_pupil_ids.includes(id)).map((id) => names?.get(id) ?? "").filter(Boolean);
  return missing.length ? `${text} ${t("teacher.handover.missing", { names: missing.join("、") })}` : text;
}

export function Handovers(props: Props) {
  const { me, school, rows } = props;
  const names = new Map(rows.map((r) => [r.pupil_id, r.name]));
  const incoming = offersTo(rows, me.staff_id);
  const classes = school.classes.filter((c) => c.homeroom_teacher_id === me.staff_id);
  const { results, setResults } = props;
  const outgoing = offersFrom(rows, me.staff_id);
  const shown = new Set(results.map((h) => h.handover_id));
  const othersWaiting = outgoing.filter((o) => !shown.has(o.handoverId)); // e.g. given before a reload
  const holding = mine(rows, me.staff_id);
  const remember = (h: HandoverOut) => setResults((rs) => [h, ...rs.filter((r) => r.handover_id !== h.handover_id)]);

  // What became of the handovers this teacher gave: read again when any of their pupils moves
  // (the receiver confirmed, or withdrew), so the giver sees both counts too.
  const given = results.filter((h) => h.giver.staff_id === me.staff_id && h.status === "offered");
  const versions = new Map(rows.map((r) => [r.pupil_id, r.version]));
  const moved = given.map((h) => `${h.handover_id}:${h.pupil_ids.map((id) => versions.get(id) ?? 0).join(".")}`).join(",");
  useEffect(() => {
    for (const h of given) {
      void api.GET("/v1/handovers/{handover_id}", { params: { path: { handover_id: h.handover_id } } })
        .then(({ data }) => data && data.status !== "offered" && remember(data));
    }
  }, [moved]);

  return (
    <div data-testid="handovers">
      {incoming.length > 0 ? (
        <section aria-labelledby="in-title">
          <h2 id="in-title">{t("teacher.in.title")} <span class="count">{incoming.length}</span></h2>
          {incoming.map((o) => <Incoming key={o.handoverId} offer={o} {...props} onResult={remember} />)}
        </section>
      ) : <p class="hint" data-testid="no-incoming">{t("teacher.in.none")}</p>}
      {results.length > 0 && (
        <section aria-labelledby="done-title" data-testid="results">
          <h2 id="done-title">{t("teacher.done.title")}</h2>
          <ul>
            {results.map((h) => (
              <li key={h.handover_id}>
                <div class={`result ${h.mismatch ? "result-bad" : h.count_received === null ? "result-queued" : "result-ok"}`}
                  data-testid={h.mismatch ? "mismatch" : "handover-result"} role={h.mismatch ? "alert" : "status"}>
                  <p>{t("teacher.done.line", { giver: h.giver.name, to: h.to.name, place: h.place.label })}</p>
                  <p>{countsText(h, names)}</p>
                  {h.status === "offered" && h.giver.staff_id === me.staff_id && (
                    <Withdraw handoverId={h.handover_id} said={props.said} onResult={remember} />
                  )}
                </div>
              </li>
            ))}
          </ul>
        </section>
      )}
      {classes.map((c) => (
        <ClassHandover key={c.class_id} label={c.label} groups={classHandovers(school, rows, c.class_id)} {...props} onResult={remember} />
      ))}
      {(holding.length > 0 || classes.length === 0) && <Move {...props} pupils={holding} onResult={remember} />}
      {othersWaiting.length > 0 && (
        <section aria-labelledby="out-title" data-testid="outgoing">
          <h2 id="out-title">{t("teacher.out.title")}</h2>
          <ul>
            {othersWaiting.map((o) => (
              <li key={o.handoverId} class="result result-queued">
                {t("teacher.out.line", { n: o.pupils.length, to: o.to.name, place: o.place.label })}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

function Incoming({ offer, onResult, said }: Props & { offer: Offer; onResult: (h: HandoverOut) => void }) {
  const [arrived, setArrived] = useState<Set<string>>(() => new Set(offer.pupils.map((p) => p.pupil_id)));
  const [count, setCount] = useState(offer.pupils.length);
  const [given, setGiven] = useState<HandoverOut | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    void api.GET("/v1/handovers/{handover_id}", { params: { path: { handover_id: offer.handoverId } } })
      .then(({ data }) => data && setGiven(data));
  }, [offer.handoverId]);
  async function confirm() {
    setBusy(true);
    const all = arrived.size === offer.pupils.length;
    const out = await sendQueued<HandoverOut>({ kind: "confirm", handoverId: offer.handoverId,
      body: { count, ...(all ? {} : { received_pupil_ids: [...arrived] }) } }, offer.pupils.map((p) => p.name));
    setBusy(false);
    if (out.ok) {
      onResult(out.data);
      said(!out.data.mismatch, `${t("teacher.in.ack", { n: out.data.received_pupil_ids.length })} ${countsText(out.data, new Map(offer.pupils.map((p) => [p.pupil_id, p.name])))}`);
    } else said(!!out.queued, out.text, out.queued);
  }
  const from = given?.giver.name ?? offer.from ?? "";
  return (
    <article class="offer panel" data-testid="offer" aria-label={t("teacher.in.from", { from, place: offer.place.label })}>
      <h3>{t("teacher.in.from", { from, place: offer.place.label })}</h3>
      <p class="big-count">{t("teacher.in.given", { given: given?.count_given ?? "…", named: offer.pupils.length })}</p>
      <Ticks pupils={offer.pupils} chosen={arrived} onChange={(next) => { setArrived(next); setCount(next.size); }}
        testid="offer-pupil" legend={t("teacher.in.tick")} />
      <Stepper value={count} onChange={setCount} label={t("teacher.in.count")} />
      {given && count !== given.count_given && <p class="warn" role="alert" data-testid="will-mismatch">
        {t("teacher.in.differs", { given: given.count_given, count })}</p>}
      <button type="button" class="primary big wide" disabled={busy} data-testid="offer-confirm" onClick={() => void confirm()}>
        {t("teacher.in.confirm", { n: count })}</button>
    </article>
  );
}

function ClassHandover({ label, groups, school, said, patch, onResult }: Props & {
  label: string; groups: ReturnType<typeof classHandovers>; onResult: (h: HandoverOut) => void;
}) {
  return (
    <section aria-label={t("teacher.class.title", { label })} data-testid="class-handover">
      <h2>{t("teacher.class.title", { label })}</h2>
      {groups.length === 0 && <p class="hint">{t("teacher.class.none")}</p>}
      {groups.map(({ group, pupils }) => group && (
        <ClassGroup key={group.group_id} groupId={group.group_id} to={group.teacher_id ?? ""} toName={staffName(school, group.teacher_id)}
          place={`${group.name} · ${group.room}`} pupils={pupils} said={said} patch={patch} onResult={onResult} />
      ))}
    </section>
  );
}

function ClassGroup({ groupId, to, toName, place, pupils, said, patch, onResult }: {
  groupId: string; to: string; toName: string; place: string; pupils: RosterPupil[];
  said: (ok: boolean, text: string, queued?: boolean) => void; onResult: (h: HandoverOut) => void; patch: Acted["patch"];
}) {
  const [chosen, setChosen] = useState<Set<string>>(() => new Set(pupils.map((p) => p.pupil_id)));
  const [count, setCount] = useState(pupils.length);
  const ids = pupils.map((p) => p.pupil_id).join(",");
  useEffect(() => {
    setChosen(new Set(pupils.map((p) => p.pupil_id)));
    setCount(pupils.length);
  }, [ids]);
  async function give() {
    const picked = pupils.filter((p) => chosen.has(p.pupil_id));
    const out = await sendQueued<HandoverOut>({ kind: "handover", body: { session: SESSION, to_staff_id: to, place_id: groupId, count,
      pupil_ids: picked.map((p) => p.pupil_id) } }, picked.map((p) => p.name));
    if (out.ok) {
      onResult(out.data);
      said(true, t("teacher.class.ack", { n: out.data.pupil_ids.length, to: toName }));
    } else said(!!out.queued, out.text, out.queued);
  }
  return (
    <div class="panel">
      <h3>{t("teacher.class.to", { to: toName, place })}</h3>
      <Ticks pupils={pupils} chosen={chosen} onChange={(next) => { setChosen(next); setCount(next.size); }} testid="class-pupil" legend={t("teacher.class.tick")} />
      {pupils.filter((p) => !chosen.has(p.pupil_id)).map((p) => (
        <div key={p.pupil_id} class="left-out" data-testid="left-out" data-name={p.name}>
          <p class="label">{t("teacher.class.left_out", { name: p.name })}</p>
          <Absence row={p} patch={patch} onDone={(ok, text) => said(ok, text)}
            onBack={() => { setChosen(new Set([...chosen, p.pupil_id])); setCount(chosen.size + 1); }} />
        </div>
      ))}
      <Stepper value={count} onChange={setCount} label={t("teacher.class.count")} />
      <button type="button" class="primary big wide" disabled={chosen.size === 0 || !to} data-testid="class-handover-submit" onClick={() => void give()}>
        {t("teacher.class.submit", { n: count, to: toName })}</button>
    </div>
  );
}

type Dest = { kind: "group"; id: string; label: string; to: string; toName: string } | { kind: "gate"; id: string; label: string };

function Move({ school, rows, me, day, pupils, said, onResult }: Props & { pupils: RosterPupil[]; onResult: (h: HandoverOut) => void }) {
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [dest, setDest] = useState<Dest | null>(null);
  const guards = withRole(school, "guard");
  const [guard, setGuard] = useState<string | null>(null);
  const [count, setCount] = useState(0);
  const picked = pupils.filter((p) => chosen.has(p.pupil_id));
  const classes = new Set(picked.map((p) => p.class_id));
  // A club takes its own members; back to a homework group is the group the pupils belong to.
  const clubs = clubsToday(school, day).filter((g) => g.teacher_id !== me.staff_id && [...classes].every((c) => g.class_ids.includes(c)));
  const homes = school.groups.filter((g) => g.kind === "homework" && g.teacher_id && g.teacher_id !== me.staff_id
    && picked.length > 0 && picked.every((p) => p.homework_group_id === g.group_id));
  const groupDests: Dest[] = [...homes, ...clubs].map((g) => ({ kind: "group", id: g.group_id, label: `${g.name} · ${g.room}`,
    to: g.teacher_id!, toName: staffName(school, g.teacher_id) }));
  const gateDests: Dest[] = school.gates.map((g) => ({ kind: "gate", id: g.gate_id, label: g.name }));
  const receiver = dest?.kind === "group" ? dest.to : guard;
  const receiverName = dest?.kind === "group" ? dest.toName : staffName(school, guard);
  useEffect(() => setCount(chosen.size), [chosen.size]);
  useEffect(() => {
    if (dest && ![...groupDests, ...gateDests].some((d) => d.id === dest.id)) setDest(null);
  }, [chosen.size]);
  void rows;

  async function give() {
    if (!dest || !receiver) return;
    const out = await sendQueued<HandoverOut>({ kind: "handover", body: { session: SESSION, to_staff_id: receiver, place_id: dest.id, count,
      pupil_ids: picked.map((p) => p.pupil_id) } }, picked.map((p) => p.name));
    if (out.ok) {
      onResult(out.data);
      said(true, t("teacher.move.ack", { n: out.data.pupil_ids.length, to: receiverName, place: dest.label }));
      setChosen(new Set());
      setDest(null);
    } else said(!!out.queued, out.text, out.queued);
  }
  return (
    <section aria-labelledby="move-title" data-testid="move">
      <h2 id="move-title">{t("teacher.move.title")}</h2>
      {pupils.length === 0 ? <p class="hint">{t("teacher.move.none")}</p> : (
        <>
          <Ticks pupils={pupils} chosen={chosen} onChange={setChosen} testid="move-pupil" legend={t("teacher.move.tick")} />
          {picked.length > 0 && (
            <>
              <p class="label">{t("teacher.move.where")}</p>
              <div class="choices">
                {groupDests.map((d) => (
                  <Choice key={d.id} chosen={dest?.id === d.id} onClick={() => setDest(d)} testid="dest">
                    <span class="who">{d.label}</span><span class="rel">{d.kind === "group" ? d.toName : ""}</span>
                  </Choice>
                ))}
                {gateDests.map((d) => (
                  <Choice key={d.id} chosen={dest?.id === d.id} onClick={() => setDest(d)} testid="dest">
                    <span class="who">{t("teacher.move.to_gate", { gate: d.label })}</span>
                  </Choice>
                ))}
              </div>
              {dest?.kind === "gate" && (
                <>
                  <p class="label">{t("teacher.move.guard")}</p>
                  <div class="choices">
                    {guards.map((g) => (
                      <Choice key={g.staff_id} chosen={guard === g.staff_id} onClick={() => setGuard(g.staff_id)} testid="guard">{g.name}</Choice>
                    ))}
                  </div>
                </>
              )}
              <Stepper value={count} onChange={setCount} label={t("teacher.move.count")} />
              <button type="button" class="primary big wide" disabled={!dest || !receiver} data-testid="move-submit" onClick={() => void give()}>
                {dest && receiver ? t("teacher.move.submit", { n: count, to: receiverName, place: dest.label }) : t("teacher.move.pick")}
              </button>
            </>
          )}
        </>
      )}
    </section>
  );
}

const REASONS = ["teacher.withdraw.wrong_person", "teacher.withdraw.wrong_pupils", "teacher.withdraw.changed"] as const;

/** Take back a handover not yet confirmed (the wrong receiver, the wrong pupils): say why in a tap. */
function Withdraw({ handoverId, said, onResult }: {
  handoverId: string; said: (ok: boolean, text: string) => void; onResult: (h: HandoverOut) => void;
}) {
  const [open, setOpen] = useState(false);
  const k = useKey();
  async function withdraw(reason: string) {
    const out = await send(() => api.POST("/v1/handovers/{handover_id}/withdraw", {
      params: { path: { handover_id: handoverId } }, body: { reason }, ...keyed(k.key()) }), k.done);
    if (out.ok) {
      onResult(out.data);
      said(true, t("teacher.withdraw.done"));
    } else said(false, out.text);
  }
  if (!open) return <button type="button" class="ghost" data-testid="withdraw-open" onClick={() => setOpen(true)}>{t("teacher.withdraw")}</button>;
  return (
    <div class="choices" role="group" aria-label={t("teacher.withdraw.why")}>
      {REASONS.map((key) => (
        <button key={key} type="button" class="ghost" data-testid="withdraw-reason" onClick={() => void withdraw(t(key))}>{t(key)}</button>
      ))}
    </div>
  );
}
