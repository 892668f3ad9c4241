// The duty leader's board (值班看板), for a tablet on the wall or in the hand: every group and
// gate with its counts and who holds the pupils there, the open alerts by age, live; the duty
// leader acknowledges and resolves alerts from it, a paired board (which only reads) does not.
import type { RosterPupil } from "../api/client";
import type { SignedIn } from "../device";
import { useNow } from "../hooks";
import { useState } from "preact/hooks";
import { DutyPanel } from "../duty/Duty";
import { t } from "../i18n";
import { AlertList } from "./Alerts";
import { useSchoolNow } from "./live";
import { Shell } from "./Shell";

export const WRITERS = ["admin", "duty_leader", "safety_officer"];

interface Place {
  id: string;
  name: string;
  kind: "group" | "gate";
  homework: boolean; // a homework group: its pupils come to it from class
  here: number;
  waiting: number; // not yet handed over (a group's own pupils)
  absent: number;
  gone: number;
  coming: number;
  holders: string[];
}

function places(pupils: RosterPupil[], counts: Record<string, Record<string, number>>,
  byGate: Record<string, Record<string, number>>, groups: { group_id: string; name: string; kind: string }[],
  gates: { gate_id: string; name: string }[]): Place[] {
  const holders = (id: string) => [...new Set(pupils
    .filter((p) => p.status === "in_custody" && p.place?.id === id && p.custodian)
    .map((p) => p.custodian!.name))];
  const coming = (id: string) => pupils.filter((p) => p.pending?.place.id === id).length;
  const of = (id: string, status: string) => counts[id]?.[status] ?? 0;
  return [
    ...gates.map((g): Place => ({
      id: g.gate_id, name: g.name, kind: "gate", homework: false, here: of(g.gate_id, "in_custody"), waiting: 0, absent: 0,
      gone: byGate[g.gate_id]?.gone ?? 0, coming: coming(g.gate_id), holders: holders(g.gate_id),
    })),
    ...groups.map((g): Place => ({
      id: g.group_id, name: g.name, kind: "group", homework: g.kind === "homework", here: of(g.group_id, "in_custody"),
      waiting: of(g.group_id, "not_handed_over"), absent: of(g.group_id, "absent"), gone: of(g.group_id, "gone"),
      coming: coming(g.group_id), holders: holders(g.group_id),
    })),
  ];
}

export function Board({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const now = useNow(30000);
  const live = useSchoolNow();
  const { school, roster } = live;
  const tz = school?.timezone ?? "Asia/Shanghai";
  const canWrite = WRITERS.includes(me.role);
  const list = school && roster
    ? places(roster.pupils, roster.counts.by_group, roster.counts.by_gate, school.groups, school.gates)
    : [];
  const status = roster?.counts.by_status ?? {};
  const openAlerts = live.alerts.filter((a) => a.status !== "resolved");
  const resolved = live.alerts.filter((a) => a.status === "resolved");
  // A duty leader (not a paired board) also keeps the day's duty: roster, patrols, clearing.
  const [view, setView] = useState<"board" | "duty">("board");
  const keepsDuty = me.role === "duty_leader" && !me.device;

  return (
    <Shell me={me} title={t("board.title")} live={live} onSignOut={onSignOut}>
      {keepsDuty && (
        <nav class="tabs duty-views" aria-label={t("duty.views")}>
          <button type="button" class={view === "board" ? "primary" : "ghost"} aria-pressed={view === "board"}
            data-testid="view-board" onClick={() => setView("board")}>{t("board.title")}</button>
          <button type="button" class={view === "duty" ? "primary" : "ghost"} aria-pressed={view === "duty"}
            data-testid="view-duty" onClick={() => setView("duty")}>{t("duty.title")}</button>
        </nav>
      )}
      {view === "duty" && school ? <DutyPanel me={me} school={school} /> : (
      <div class="board-body">
        <section class="board-places" aria-label={t("board.places")}>
          <dl class="tiles board-totals" data-testid="totals">
            <div><dt>{t("board.total")}</dt><dd>{roster?.counts.total ?? "–"}</dd></div>
            <div><dt>{t("board.in_custody")}</dt><dd>{status.in_custody ?? 0}</dd></div>
            <div><dt>{t("board.not_handed_over")}</dt><dd>{status.not_handed_over ?? 0}</dd></div>
            <div><dt>{t("board.gone")}</dt><dd>{roster?.counts.gone ?? 0}</dd></div>
          </dl>
          <ul class="places">
            {list.map((p) => (
              <li key={p.id} class={`place place-${p.kind}`} data-testid="place" data-place-id={p.id} data-kind={p.kind}>
                <h3>{p.kind === "gate" ? t("board.gate", { name: p.name }) : p.name}</h3>
                <p class="place-here"><strong data-testid="place-here">{p.here}</strong> {t("board.here")}</p>
                <p class="place-counts">
                  {(p.homework || p.waiting > 0) && <span>{t("board.waiting", { n: p.waiting })}</span>}
                  {p.coming > 0 && <span>{t("board.coming", { n: p.coming })}</span>}
                  {p.kind === "group" && p.absent > 0 && <span>{t("board.absent", { n: p.absent })}</span>}
                  <span data-testid="place-gone">{t("board.gone_n", { n: p.gone })}</span>
                </p>
                <p class="place-holders" data-testid="place-holders">
                  {p.holders.length ? t("board.held_by", { names: p.holders.join("、") }) : t("board.nobody")}
                </p>
              </li>
            ))}
          </ul>
        </section>
        <section class="board-alerts" aria-label={t("board.alerts")} data-testid="board-alerts">
          <h2>{t("board.alerts")} <span class="count" data-testid="open-alerts">{openAlerts.length}</span></h2>
          <AlertList alerts={openAlerts} tz={tz} now={now} canWrite={canWrite} onChanged={live.putAlert} />
          {resolved.length > 0 && (
            <details class="resolved" data-testid="resolved-alerts">
              <summary>{t("board.resolved", { n: resolved.length })}</summary>
              <AlertList alerts={resolved} tz={tz} now={now} canWrite={false} onChanged={live.putAlert} />
            </details>
          )}
        </section>
      </div>
      )}
    </Shell>
  );
}
