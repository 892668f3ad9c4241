// The teacher's writes: roll call, leave, handovers and early departures go through the device's
// queue (kept with their Idempotency-Key and device time, sent at once when the network is there,
// replayed when it comes back, a refusal shown until seen); the rest go straight to the service,
// each with an Idempotency-Key kept until it is answered, so a retry records once.
import { useRef } from "preact/hooks";
import { type Problem, problemCode, unreachable } from "../api/client";
import { known, t } from "../i18n";
import { type Command, submit } from "../queue";

/** The teacher works in the after-school session (课后服务). */
export const SESSION = "after_school";

export type Sent<T> = { ok: true; data: T } | { ok: false; text: string; queued?: boolean };

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** A key for one write: the same until the write was answered, so a retry is safe. */
export function useKey(): { key: () => string; done: () => void } {
  const current = useRef<string | null>(null);
  return {
    key: () => (current.current ??= crypto.randomUUID()),
    done: () => {
      current.current = null;
    },
  };
}

export function keyed(key: string): { headers: Record<string, string> } {
  return { headers: { "Idempotency-Key": key } };
}

/** Run a write; its answer, or what went wrong in the teacher's words. */
export async function send<T>(call: () => Promise<Answer<T>>, done: () => void): Promise<Sent<T>> {
  try {
    const { data, error, response } = await call();
    done(); // answered: the next write is a new one
    if (data !== undefined && response.ok) return { ok: true, data };
    const p = (error ?? {}) as Partial<Problem>;
    const code = p.type ? problemCode(p as Problem) : "";
    if (response.status === 401) return { ok: false, text: t("gate.unauthorised") };
    return { ok: false, text: known("teacher.problem", code, "teacher.problem.unknown") };
  } catch (e) {
    if (unreachable(e)) return { ok: false, text: t("teacher.offline") };
    throw e;
  }
}

/** Queue a write on the phone and send it now if the network is there: its answer, "queued" while
 * offline (it is sent when the network comes back), or why the service refused it. */
export async function sendQueued<T>(command: Command, names: string[]): Promise<Sent<T>> {
  const outcome = await submit(command, names, null);
  if (outcome.ok) return { ok: true, data: outcome.body as T };
  if (outcome.offline) return { ok: false, queued: true, text: t("teacher.queued", { names: names.join("、") }) };
  const problem = outcome.item.problem;
  if (problem?.status === 401) return { ok: false, text: t("gate.unauthorised") };
  return { ok: false, text: known("teacher.problem", problem?.code ?? "", "teacher.problem.unknown") };
}
