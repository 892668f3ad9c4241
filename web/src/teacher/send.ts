// The teacher's writes go straight to the service (a teacher acts online, in the room): each with
// an Idempotency-Key kept until it is answered, so a retry after a dropped connection records once.
import { useRef } from "preact/hooks";
import { type Problem, problemCode, unreachable } from "../api/client";
import { known, t } from "../i18n";

/** The teacher works in the after-school session (课后服务). */
export const SESSION = "after_school";

export type Sent<T> = { ok: true; data: T } | { ok: false; text: string };

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
