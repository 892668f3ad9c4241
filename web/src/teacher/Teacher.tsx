// The teacher's phone: roll call of their group, handovers in and out, and incidents. Live from
// today's roster (and its event stream); every write goes to the service and its answer is shown.
import { useEffect, useState } from "preact/hooks";
import type { RosterPupil } from "../api/client";
import { cache } from "../cache";
import { device, type SignedIn } from "../device";
import { useToday } from "../gate/data";
import { useOnline, useSignal } from "../hooks";
import { known, lang, t } from "../i18n";
import { LangSwitch } from "../LangSwitch";
import { type HandoverOut, Handovers } from "./Handovers";
import { Incident } from "./Incident";
import { mine, myClasses, myGroups, offersTo, roll } from "./model";
import { Said } from "./Parts";
import { Roll } from "./Roll";
import { dismiss, load, type Queued, replay, subscribe, waiting } from "../queue";
import { clock } from "../time";
import "./teacher.css";

type Tab = "roll" | "handover" | "incident";

export function Teacher({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const today = useToday(null);
  const { school, roster } = today;
  const online = useOnline();
  const [chosenTab, setTab] = useState<Tab | null>(null);
  const [groupId, setGroupId] = useState<string | null>(null);
  const [results, setResults] = useState<HandoverOut[]>([]);
  const [said, setSaid] = useState<{ ok: boolean; text: string; queued?: boolean } | null>(null);
  const [queue, setQueue] = useState<Queued[]>([]);
  useEffect(() => subscribe(setQueue), []);
  // What waits on the phone is sent on reconnect and every 15 s, oldest first; then the roster anew.
  useEffect(() => {
    const send = async () => {
      if (!navigator.onLine) return;
      const done = await replay();
      if (done.length) await today.refresh();
    };
    void load().then(send);
    addEventListener("online", send);
    const timer = setInterval(() => void send(), 15000);
    return () => {
      removeEventListener("online", send);
      clearInterval(timer);
    };
  }, [today.refresh]);
  const pending = waiting(queue).filter((q) => q.staffId === me.staff_id);
  const conflicts = queue.filter((q) => q.state === "conflict" && q.staffId === me.staff_id);
  const language = useSignal(lang);
  useEffect(() => setSaid(null), [language]); // a message said in one language is not left in the other
  const rows = roster?.pupils ?? [];
  const day = roster?.day ?? "";
  const groups = school ? myGroups(school, me.staff_id, day) : [];
  const group = groups.find((g) => g.group_id === groupId) ?? groups[0] ?? null;
  const incoming = offersTo(rows, me.staff_id);
  // A homeroom teacher who runs no group today starts where their class is handed over.
  const tab: Tab = chosenTab ?? (school && groups.length === 0 && myClasses(school, me.staff_id).length > 0 ? "handover" : "roll");

  function say(ok: boolean, text: string, queued?: boolean) {
    setSaid(text ? { ok, text, queued } : null);
  }
  function patch(state: Partial<RosterPupil> & { pupil_id: string }) {
    today.patch(state.pupil_id, state);
  }
  async function signOut() {
    device.signOut();
    await cache.forget();
    onSignOut();
  }

  if (today.unauthorised) {
    return (
      <main class="signin">
        <p class="error" role="alert">{t("gate.unauthorised")}</p>
        <button class="primary big" type="button" onClick={() => void signOut()}>{t("gate.sign_out")}</button>
      </main>
    );
  }

  const groupRows = group ? roll(rows, group, me.staff_id) : [];
  const names = new Map(rows.map((r) => [r.pupil_id, r.name]));
  const tabs: [Tab, string, number][] = [
    ["roll", t("teacher.tab.roll"), 0], ["handover", t("teacher.tab.handover"), incoming.length], ["incident", t("teacher.tab.incident"), 0]];

  return (
    <div class="teacher">
      <header class="bar">
        <h1>{t("teacher.title")}</h1>
        <p class={`net ${online ? "on" : "off"}`} role="status" data-testid="net">
          {online ? (today.live === "live" ? t("net.live") : t("net.connecting")) : t("teacher.net.offline")}
        </p>
        <p class={`queue ${pending.length ? "has" : ""}`} role="status" aria-live="polite" data-testid="queue-count">
          {t("queue.count", { n: pending.length })}
        </p>
        <LangSwitch />
        <button class="ghost" type="button" onClick={() => void signOut()} data-testid="sign-out">{t("gate.sign_out")}</button>
      </header>
      {conflicts.length > 0 && (
        <section class="conflicts" role="alert" data-testid="conflicts">
          <h2>{t("queue.conflicts", { n: conflicts.length })}</h2>
          <ul>
            {conflicts.map((c) => (
              <li key={c.key} data-testid="conflict">
                <p><strong>{c.names.join("、")}</strong> · {t(`kind.${c.command.kind}`)} · {clock(c.deviceTime, school?.timezone ?? "Asia/Shanghai")}</p>
                <p>{known("teacher.problem", c.problem?.code ?? "", "teacher.problem.unknown")}</p>
                <button type="button" class="ghost" data-testid="conflict-seen" onClick={() => void dismiss(c.key)}>{t("queue.seen")}</button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {pending.length > 0 && (
        <p class="warn" data-testid="waiting">{t("teacher.queue.waiting", { n: pending.length, names: pending.flatMap((q) => q.names).join("、") })}</p>
      )}
      <p class="whoami">{me.name}{group ? ` · ${group.name}` : ""}</p>
      <nav class="tabs" aria-label={t("teacher.tabs")}>
        {tabs.map(([key, label, n]) => (
          <button key={key} type="button" class={`tab ${tab === key ? "on" : ""}`} aria-current={tab === key ? "page" : undefined}
            data-testid={`tab-${key}`} onClick={() => { setTab(key); setSaid(null); }}>
            {label}{n > 0 && <span class="badge" data-testid={`badge-${key}`}>{n}</span>}
          </button>
        ))}
      </nav>
      <main class="teacher-body">
        <Said said={said} />
        {incoming.length > 0 && tab !== "handover" && (
          <button type="button" class="warn wide" data-testid="incoming-banner" onClick={() => setTab("handover")}>
            {t("teacher.in.banner", { n: incoming.reduce((s, o) => s + o.pupils.length, 0) })}</button>
        )}
        {!school || !roster ? <p class="hint">{t("card.loading")}</p> : (
          <>
            {tab === "roll" && groups.length > 1 && (
              <div class="choices" role="group" aria-label={t("teacher.groups")}>
                {groups.map((g) => (
                  <button key={g.group_id} type="button" class={`choice ${g.group_id === group?.group_id ? "chosen" : ""}`}
                    aria-pressed={g.group_id === group?.group_id} onClick={() => setGroupId(g.group_id)}>{g.name}</button>
                ))}
              </div>
            )}
            {tab === "roll" && (group
              ? <Roll me={me} school={school} group={group} rows={groupRows} detail={today.detail} said={say} patch={patch} />
              : <p class="hint" data-testid="no-group">{t("teacher.no_group")}</p>)}
            {tab === "handover" && <Handovers me={me} school={school} rows={rows} day={day} said={say} patch={patch}
              results={results} setResults={setResults} />}
            {tab === "incident" && (
              <Incident group={group} pupils={[...mine(rows, me.staff_id), ...groupRows.filter((r) => r.custodian?.staff_id !== me.staff_id && r.status === "in_custody")]}
                names={names} said={say} />
            )}
          </>
        )}
      </main>
    </div>
  );
}
