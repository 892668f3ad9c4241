// The guard on duty at a shared gate tablet: pick your name, type your PIN, and every release,
// refusal and call made here names you. Signing off, and a colleague taking over the gate with the
// pupils you hold here, take the PIN again. Signing on needs the network; once on, the gate works
// offline under your name until you sign off.
import { useEffect, useState } from "preact/hooks";
import { api, type Problem, problemCode, type RosterPupil, type Schemas, unreachable } from "../api/client";
import type { OnDuty } from "../device";
import { known, t } from "../i18n";

type Guard = Schemas["GateGuard"];
type Step =
  | { kind: "list" }
  | { kind: "pin"; guard: Guard; purpose: "on" | "off" | "over" };

interface Props {
  gateId: string;
  day: string;
  session: string;
  online: boolean;
  onDuty: OnDuty | null;
  held: RosterPupil[]; // the pupils the guard on duty holds at this gate now
  onChange: (guard: OnDuty | null) => void;
  recheck: number; // changes when the service refused a record for its guard: read who is on duty
}

const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "", "0", "back"] as const;

/** Who of the school's guards may sign on here, and who is on duty (the service's word). */
export function useGateGuards(gateId: string | null, session: string, online: boolean, recheck = 0) {
  const [guards, setGuards] = useState<Guard[] | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  async function refresh(): Promise<Guard[] | null> {
    if (!gateId || !navigator.onLine) return null;
    try {
      const { data, error } = await api.GET("/v1/gate/guards", { params: { query: { session } } });
      if (data) {
        setGuards(data.guards);
        setFailed(null);
        return data.guards;
      }
      setFailed(known("problem", problemCode(error as Problem), "problem.unknown"));
    } catch (e) {
      if (!unreachable(e)) throw e;
    }
    return null;
  }
  useEffect(() => {
    void refresh();
  }, [gateId, session, online, recheck]);
  return { guards, failed, refresh };
}

export function GuardDesk(props: Props) {
  const { gateId, day, session, online, onDuty, held, onChange, recheck } = props;
  const { guards, failed, refresh } = useGateGuards(gateId, session, online, recheck);
  const [step, setStep] = useState<Step>({ kind: "list" });
  const [pin, setPin] = useState("");
  const [count, setCount] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState(false); // the on-duty guard's menu: sign off, hand over

  // The service decides who is on duty: a guard signed off elsewhere is no longer named here.
  useEffect(() => {
    if (!guards || !onDuty) return;
    const still = guards.find((g) => g.staff_id === onDuty.staff_id);
    if (!still?.on_duty || onDuty.day !== day) onChange(null);
  }, [guards]);

  function pick(guard: Guard, purpose: "on" | "off" | "over") {
    setStep({ kind: "pin", guard, purpose });
    setPin("");
    setCount(purpose === "over" ? String(held.length) : "");
    setError(null);
  }

  function press(d: (typeof DIGITS)[number]) {
    if (d === "back") setPin((p) => p.slice(0, -1));
    else if (d && pin.length < 8) setPin((p) => p + d);
  }

  async function confirm() {
    if (step.kind !== "pin") return;
    const { guard, purpose } = step;
    if (!/^[0-9]{4,8}$/.test(pin)) {
      setError(t("guard.pin.short"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const header = { "idempotency-key": crypto.randomUUID() };
      const answer = purpose === "off"
        ? await api.POST("/v1/gate/guards/sign-off", { body: { staff_id: guard.staff_id, pin, session }, params: { header } })
        : await api.POST("/v1/gate/guards/sign-on", {
          params: { header },
          body: {
            staff_id: guard.staff_id, pin, session,
            ...(purpose === "over" && onDuty ? {
              taking_over_from: onDuty.staff_id,
              pupil_ids: held.map((r) => r.pupil_id),
              count_received: Number(count || "0"),
            } : {}),
          },
        });
      if (answer.data) {
        onChange(purpose === "off" ? null : { staff_id: guard.staff_id, name: guard.name, gate_id: gateId, day });
        setStep({ kind: "list" });
        setOpen(false);
        setPin("");
        await refresh();
        return;
      }
      const problem = answer.error as Problem;
      const code = problemCode(problem);
      setPin("");
      setError(code === "still-holds-pupils"
        ? t("guard.problem.off_holding", { n: typeof problem.held === "number" ? problem.held : held.length })
        : known("guard.problem", code, "guard.problem.unknown"));
    } catch (e) {
      if (!unreachable(e)) throw e;
      setError(t("guard.offline"));
    } finally {
      setBusy(false);
    }
  }

  if (step.kind === "pin") {
    const { guard, purpose } = step;
    return (
      <section class="panel guard-pin" data-testid="guard-pin" aria-label={t("guard.pin.title", { name: guard.name })}>
        <h2>{t(`guard.pin.${purpose}`, { name: guard.name })}</h2>
        {purpose === "over" && onDuty && (
          <div class="handover-count">
            <p>{t("guard.over.held", { from: onDuty.name, n: held.length })}</p>
            {held.length > 0 && <p class="hint">{held.map((r) => r.name).join("、")}</p>}
            <label>
              {t("guard.over.count", { name: guard.name })}
              <input type="number" inputmode="numeric" min={0} value={count} data-testid="guard-count"
                onInput={(e) => setCount((e.target as HTMLInputElement).value)} />
            </label>
          </div>
        )}
        <label>
          {t("guard.pin.label")}
          <input type="password" inputmode="numeric" autocomplete="off" maxLength={8} value={pin} data-testid="guard-pin-input"
            onInput={(e) => setPin((e.target as HTMLInputElement).value.replace(/[^0-9]/g, "").slice(0, 8))}
            onKeyDown={(e) => { if (e.key === "Enter") void confirm(); }} />
        </label>
        <div class="pinpad">
          {DIGITS.map((d, i) => d === "" ? <span key={i} /> : (
            <button type="button" key={i} class="big" disabled={busy} onClick={() => press(d)}
              aria-label={d === "back" ? t("guard.pin.back") : d}>{d === "back" ? "⌫" : d}</button>
          ))}
        </div>
        {error && <p class="error" role="alert" data-testid="guard-error">{error}</p>}
        <div class="row-actions">
          <button type="button" class="ghost big" onClick={() => { setStep({ kind: "list" }); setError(null); }}>{t("guard.back")}</button>
          <button type="button" class="primary big" disabled={busy} data-testid="guard-confirm" onClick={() => void confirm()}>
            {t(purpose === "off" ? "guard.off.confirm" : "guard.on.confirm")}
          </button>
        </div>
      </section>
    );
  }

  if (onDuty) {
    const others = (guards ?? []).filter((g) => g.staff_id !== onDuty.staff_id);
    return (
      <div class="guard-on">
        <button type="button" class="ghost" data-testid="guard-on-duty" aria-expanded={open} onClick={() => setOpen(!open)}>
          {t("guard.on_duty", { name: onDuty.name })}
        </button>
        {open && (
          <section class="panel guard-menu" data-testid="guard-menu">
            <h2>{t("guard.menu.title", { name: onDuty.name })}</h2>
            {!online && <p class="warn">{t("guard.offline")}</p>}
            <button type="button" class="ghost big" disabled={!online} data-testid="guard-sign-off"
              onClick={() => pick({ staff_id: onDuty.staff_id, name: onDuty.name, has_pin: true, on_duty: true, signed_on_at: null }, "off")}>
              {t("guard.off")}
            </button>
            <h3>{t("guard.over")}</h3>
            <div class="choices">
              {others.map((g) => (
                <button type="button" class="choice" key={g.staff_id} disabled={!online || !g.has_pin} data-testid="guard-take-over"
                  onClick={() => pick(g, "over")}>
                  <span class="who">{g.name}</span>
                  {!g.has_pin && <span class="rel">{t("guard.no_pin")}</span>}
                </button>
              ))}
            </div>
          </section>
        )}
      </div>
    );
  }

  return (
    <section class="panel guard-list" role="alert" data-testid="guard-sign-on">
      <h2>{t("guard.sign_on_first")}</h2>
      <p>{t("guard.sign_on.why")}</p>
      {!online && <p class="warn">{t("guard.offline")}</p>}
      {failed && <p class="error">{failed}</p>}
      {guards && guards.length === 0 && <p class="hint">{t("guard.none")}</p>}
      <div class="choices">
        {(guards ?? []).map((g) => (
          <button type="button" class="choice big" key={g.staff_id} disabled={!online || !g.has_pin} data-testid="guard-choice"
            onClick={() => pick(g, "on")}>
            <span class="who">{g.name}</span>
            <span class="rel">{g.has_pin ? (g.on_duty ? t("guard.on_duty.here") : t("guard.pick")) : t("guard.no_pin")}</span>
          </button>
        ))}
      </div>
    </section>
  );
}
