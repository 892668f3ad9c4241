// The gate screen (guard): find a pupil, see who is here, on the way and overdue, and release.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { RosterPupil } from "../api/client";
import { cache } from "../cache";
import { device, type SignedIn } from "../device";
import { useNow, useOnline } from "../hooks";
import { t } from "../i18n";
import { LangSwitch } from "../LangSwitch";
import { dismiss, leaving, load, type Outcome, type Queued, replay, subscribe, waiting } from "../queue";
import { search } from "../search";
import { clock, dismissal, isoDay, minutesNow, minutesOf } from "../time";
import { Card, problemText } from "./Card";
import { useToday } from "./data";
import { GuardDesk } from "./Guard";
import { atGate, onTheWay } from "./rules";

const CLOSE_AFTER_MS = 2500; // how long a card stays open after its release was recorded or queued

export function Gate({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const [gateId, setGateId] = useState<string | null>(device.gate());
  const today = useToday(gateId);
  // A shared gate tablet acts under the guard signed on at it; a guard's own sign-in is the guard.
  const tablet = me.device?.kind === "gate_tablet";
  const [onDuty, setOnDuty] = useState(() => (tablet ? device.guard() : null));
  function changeGuard(guard: typeof onDuty) {
    device.setGuard(guard);
    setOnDuty(guard);
  }
  const { school, roster } = today;
  const [query, setQuery] = useState("");
  const [openId, setOpenId] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [queue, setQueue] = useState<Queued[]>([]);
  const online = useOnline();
  const now = useNow(30000);
  const searchBox = useRef<HTMLInputElement>(null);

  useEffect(() => subscribe(setQueue), []);
  useEffect(() => {
    void load().then(() => (navigator.onLine ? replay() : []));
  }, []);
  // On reconnect, and every 15 s while anything waits, send the queue; then read the roster anew.
  useEffect(() => {
    const send = async () => {
      if (!navigator.onLine) return;
      const done = await replay();
      if (done.length) await today.refresh();
    };
    addEventListener("online", send);
    const timer = setInterval(() => void send(), 15000);
    return () => {
      removeEventListener("online", send);
      clearInterval(timer);
    };
  }, [today.refresh]);

  // The guard's gate: remembered on the device; the only gate of a school with one.
  useEffect(() => {
    if (!gateId && school?.gates.length === 1) setGate(school.gates[0]!.gate_id);
  }, [school, gateId]);
  function setGate(id: string) {
    device.setGate(id);
    setGateId(id);
  }

  const rows = roster?.pupils ?? [];
  const results = useMemo(() => (query.trim() ? search(query, rows) : []), [query, rows]);
  const queuedIds = useMemo(() => leaving(queue), [queue]);
  const conflicts = queue.filter((q) => q.state === "conflict");
  const pending = waiting(queue);

  const tz = school?.timezone ?? "Asia/Shanghai";
  const day = roster?.day ?? "";
  const nowMin = minutesNow(tz, now);
  const grace = school?.schedule.grace_minutes ?? 10;
  const dueAt = (row: RosterPupil) => (school ? dismissal(school.schedule, roster?.session ?? "after_school", row.band, day) : null);
  const overdue = (row: RosterPupil) => {
    const at = dueAt(row);
    return at !== null && nowMin > minutesOf(at) + grace;
  };
  const here = gateId ? rows.filter((r) => atGate(r, gateId) && !queuedIds.has(r.pupil_id)) : [];
  const coming = gateId ? rows.filter((r) => onTheWay(r, gateId)) : [];
  const late = [...here, ...coming].filter(overdue);
  const goneHere = gateId ? rows.filter((r) => r.status === "gone" && r.gate_id === gateId).length : 0;
  const open = openId ? rows.find((r) => r.pupil_id === openId) ?? null : null;
  const held = onDuty ? here.filter((r) => r.custodian?.staff_id === onDuty.staff_id) : [];
  // A record refused because its guard was not on duty: ask the service who is on duty now.
  const recheck = conflicts.filter((c) => c.problem?.code?.startsWith("guard-not")).length;
  const needsGuard = tablet && !onDuty;

  async function openCard(id: string) {
    setOpenId(id);
    if (!today.details.has(id)) {
      setLoading(true);
      await today.detail(id);
      setLoading(false);
    } else {
      void today.detail(id);
    }
  }

  function onOutcome(outcome: Outcome, ids: string[]) {
    if (outcome.item.command.kind === "phone_authorisation") return;
    if (outcome.ok || outcome.offline) {
      // Done with this pupil: back to the search for the next one, unless another card is open.
      setQuery("");
      const shown = ids[0];
      window.setTimeout(() => setOpenId((current) => (current === shown ? null : current)), CLOSE_AFTER_MS);
    }
    if (outcome.ok && outcome.body && typeof outcome.body === "object") {
      const body = outcome.body as { pupils?: Partial<RosterPupil>[] } & Partial<RosterPupil>;
      for (const state of body.pupils ?? [body]) {
        if (state.pupil_id) today.patch(state.pupil_id, { ...state, gate_id: state.status === "gone" ? gateId : state.gate_id ?? null });
      }
    }
  }

  const mine = pending.filter((q) => q.staffId === me.staff_id).length;
  const [confirmOut, setConfirmOut] = useState(false);
  async function signOut() {
    if (mine > 0 && !confirmOut && !today.unauthorised) {
      setConfirmOut(true); // records still waiting are sent only under this sign-in
      return;
    }
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

  const gateName = school?.gates.find((g) => g.gate_id === gateId)?.name;
  const list = (title: string, items: RosterPupil[], testid: string, empty: string) => (
    <section class="list" aria-label={title} data-testid={testid}>
      <h2>{title} <span class="count">{items.length}</span></h2>
      {items.length === 0 && <p class="hint">{empty}</p>}
      <ul>
        {items.map((r) => (
          <li key={r.pupil_id}>
            <button type="button" class={`pupil ${overdue(r) ? "late" : ""}`} data-testid="pupil" onClick={() => void openCard(r.pupil_id)}>
              <span class="who">{r.name}</span>
              <span class="rel">{r.class_label}</span>
              <span class="due">{dueAt(r) ? t("gate.due_at", { time: dueAt(r)! }) : ""}{overdue(r) ? ` · ${t("gate.overdue")}` : ""}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );

  return (
    <div class="gate">
      <header class="bar">
        <h1>{t("gate.title")}{gateName ? ` · ${gateName}` : ""}</h1>
        <p class="who-am-i">{me.name}</p>
        <p class={`net ${online ? "on" : "off"}`} role="status" data-testid="net">
          {online ? (today.live === "live" ? t("net.live") : t("net.connecting")) : t("net.offline")}
        </p>
        <p class={`queue ${pending.length ? "has" : ""}`} role="status" aria-live="polite" data-testid="queue-count">
          {t("queue.count", { n: pending.length })}
        </p>
        <LangSwitch />
        <button class="ghost" type="button" onClick={() => void signOut()} data-testid="sign-out">
          {confirmOut ? t("gate.sign_out.confirm") : t("gate.sign_out")}
        </button>
      </header>
      {confirmOut && <p class="warn" role="alert">{t("gate.sign_out.waiting", { n: mine })}</p>}
      {tablet && gateId && (
        <GuardDesk gateId={gateId} day={day || isoDay(now, tz)} session={roster?.session ?? "after_school"} online={online}
          onDuty={onDuty} held={held} onChange={changeGuard} recheck={recheck} />
      )}

      {school && !gateId && (
        <section class="panel" data-testid="gate-choice">
          <h2>{t("gate.choose")}</h2>
          <div class="choices">
            {school.gates.map((g) => (
              <button type="button" class="choice" key={g.gate_id} onClick={() => setGate(g.gate_id)}>{g.name}</button>
            ))}
          </div>
        </section>
      )}

      {conflicts.length > 0 && (
        <section class="conflicts" role="alert" data-testid="conflicts">
          <h2>{t("queue.conflicts", { n: conflicts.length })}</h2>
          <ul>
            {conflicts.map((c) => (
              <li key={c.key} data-testid="conflict">
                <p><strong>{c.names.join("、")}</strong>{c.adult ? ` → ${c.adult}` : ""} · {t(`kind.${c.command.kind}`)} · {clock(c.deviceTime, tz)}</p>
                <p>{problemText(c.problem, tz)}</p>
                <button type="button" class="ghost" data-testid="conflict-seen" onClick={() => void dismiss(c.key)}>{t("queue.seen")}</button>
              </li>
            ))}
          </ul>
        </section>
      )}

      {gateId && !needsGuard && (
        <div class={`gate-body ${open ? "has-card" : ""}`}>
          <div class="left">
            <label class="search">
              <span class="label">{t("search.label")}</span>
              <input ref={searchBox} type="search" value={query} data-testid="search" autocomplete="off"
                placeholder={t("search.placeholder")} onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
                onKeyDown={(e) => { if (e.key === "Enter" && results[0]) void openCard(results[0].pupil_id); }} />
            </label>
            {query.trim() ? (
              <section class="list" aria-label={t("search.results")} data-testid="results">
                <h2>{t("search.results")} <span class="count">{results.length}</span></h2>
                {results.length === 0 && <p class="hint">{t("search.none")}</p>}
                <ul>
                  {results.map((r) => (
                    <li key={r.pupil_id}>
                      <button type="button" class="pupil" data-testid="result" onClick={() => void openCard(r.pupil_id)}>
                        <span class="who">{r.name}</span>
                        <span class="rel">{r.class_label}</span>
                        <span class="due">{queuedIds.has(r.pupil_id) ? t("queue.this_waits") : placeText(r, gateId)}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </section>
            ) : (
              list(t("gate.here"), here, "here", t("gate.here.none"))
            )}
            {pending.length > 0 && (
              <section class="waiting" data-testid="waiting">
                <h2>{t("queue.waiting", { n: pending.length })}</h2>
                <ul>
                  {pending.map((q) => (
                    <li key={q.key}>
                      {q.names.join("、")} · {t(`kind.${q.command.kind}`)} · {clock(q.deviceTime, tz)}
                      {q.guardName ? ` · ${q.guardName}` : ""}
                      {q.staffId !== me.staff_id ? ` · ${t("queue.someone_else", { name: q.staffName })}` : ""}
                    </li>
                  ))}
                </ul>
              </section>
            )}
            {!online && today.savedAt && <p class="hint">{t("net.kept", { time: clock(today.savedAt, tz) })}</p>}
            {roster && roster.day !== isoDay(now, tz) && <p class="warn" role="alert">{t("net.old_day", { day: roster.day })}</p>}
          </div>
          <div class="right">
            {open && school ? (
              <Card row={open} detail={today.details.get(open.pupil_id) ?? null} loading={loading} school={school}
                gateId={gateId} day={day} session={roster?.session ?? "after_school"} rows={rows} details={today.details} queue={queue}
                onPupil={today.putDetail} onClose={() => { setOpenId(null); searchBox.current?.focus(); }} onOutcome={onOutcome}
                actingAs={onDuty?.staff_id ?? me.staff_id} />
            ) : (
              <>
                <dl class="tiles" data-testid="tiles">
                  <div><dt>{t("gate.here")}</dt><dd>{here.length}</dd></div>
                  <div><dt>{t("gate.coming")}</dt><dd>{coming.length}</dd></div>
                  <div class={late.length ? "late" : ""}><dt>{t("gate.late")}</dt><dd>{late.length}</dd></div>
                  <div><dt>{t("gate.gone.short")}</dt><dd data-testid="gone-count">{goneHere}</dd></div>
                </dl>
                {list(t("gate.coming"), coming, "coming", t("gate.coming.none"))}
                {list(t("gate.late"), late, "late", t("gate.late.none"))}
              </>
            )}
          </div>
        </div>
      )}
    </div>
  );
}

function placeText(r: RosterPupil, gateId: string): string {
  if (atGate(r, gateId)) return t("place.here");
  if (onTheWay(r, gateId)) return t("place.coming");
  if (r.status === "gone") return t("place.gone");
  if (r.status === "absent") return t("place.absent");
  return r.place?.label ?? t("place.not_here");
}
