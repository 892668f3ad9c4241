// Releases and refusals (and a teacher's roll call and handovers) queue on the device before they are sent: each with its Idempotency-Key
// and the time it was made here, so that a reload, a restart or a dropped network loses none and
// a replay records none twice. An answer the service refuses (a conflict, a release refused by
// the rules) stays on the screen until the guard has seen it: nothing is dropped silently.
import { get, set } from "idb-keyval";
import { api, type Problem, problemCode, unreachable } from "./api/client";
import type { Schemas } from "./api/client";
import { device } from "./device";
import { deviceTime } from "./time";

export type Command =
  | { kind: "release"; body: Schemas["ReleaseRequest"] }
  | { kind: "refusal"; body: Schemas["RefusalRequest"] }
  | { kind: "home_alone"; body: Schemas["HomeAloneRequest"] }
  | { kind: "phone_authorisation"; pupilId: string; body: Schemas["PhoneAuthorisationRequest"] }
  // The teacher's phone: roll call, leave and absence, handovers given and received, early departures.
  | { kind: "sign_in"; body: Schemas["SignInRequest"] }
  | { kind: "absence"; body: Schemas["AbsenceRequest"] }
  | { kind: "handover"; body: Schemas["HandoverRequest"] }
  | { kind: "confirm"; handoverId: string; body: Schemas["ConfirmRequest"] }
  | { kind: "early_departure"; body: Schemas["EarlyDepartureRequest"] };

export interface Queued {
  key: string; // the Idempotency-Key
  command: Command;
  deviceTime: string;
  names: string[]; // the pupils' names, to show what is waiting
  adult: string | null;
  staffId: string; // who made it: it is sent only under their own sign-in
  staffName: string;
  guardId?: string; // at a gate tablet: the guard on duty who made it, named when it is sent
  guardName?: string;
  state: "waiting" | "sending" | "conflict";
  problem?: {
    status: number; code: string; title: string; detail: string | null; reasons: string[];
    gone: { how: string; at: string; adult: string | null } | null; // what happened instead
  };
  tries: number;
}

export type Outcome =
  | { ok: true; item: Queued; body: unknown }
  | { ok: false; offline: true; item: Queued }
  | { ok: false; offline: false; item: Queued };

const KEY = "queue";
let items: Queued[] = [];
let loaded: Promise<void> | null = null;
let chain: Promise<unknown> = Promise.resolve();
const listeners = new Set<(items: Queued[]) => void>();

function locked<T>(task: () => Promise<T>): Promise<T> {
  const next = chain.then(task, task);
  chain = next.catch(() => undefined);
  return next;
}

async function save(): Promise<void> {
  await set(KEY, items);
  const copy = items.map((i) => ({ ...i }));
  listeners.forEach((fn) => fn(copy));
}

export function load(): Promise<void> {
  loaded ??= get<Queued[]>(KEY).then((kept) => {
    // A send cut short by a reload is waiting again: its key makes the retry safe.
    items = (kept ?? []).map((i) => (i.state === "sending" ? { ...i, state: "waiting" } : i));
    listeners.forEach((fn) => fn(items.map((i) => ({ ...i }))));
  });
  return loaded;
}

export function subscribe(fn: (items: Queued[]) => void): () => void {
  listeners.add(fn);
  fn(items.map((i) => ({ ...i })));
  return () => listeners.delete(fn);
}

async function post(item: Queued): Promise<{ data?: unknown; error?: unknown; response: Response }> {
  const header = {
    "idempotency-key": item.key, "x-device-time": item.deviceTime,
    ...(item.guardId ? { "x-guard-id": item.guardId } : {}),
  };
  const c = item.command;
  if (c.kind === "release") return api.POST("/v1/releases", { body: c.body, params: { header } });
  if (c.kind === "refusal") return api.POST("/v1/refusals", { body: c.body, params: { header } });
  if (c.kind === "home_alone") return api.POST("/v1/home-alone", { body: c.body, params: { header } });
  if (c.kind === "sign_in") return api.POST("/v1/sign-ins", { body: c.body, params: { header } });
  if (c.kind === "absence") return api.POST("/v1/absences", { body: c.body, params: { header } });
  if (c.kind === "handover") return api.POST("/v1/handovers", { body: c.body, params: { header } });
  if (c.kind === "early_departure") return api.POST("/v1/early-departures", { body: c.body, params: { header } });
  if (c.kind === "confirm") {
    return api.POST("/v1/handovers/{handover_id}/confirm", {
      body: c.body, params: { header, path: { handover_id: c.handoverId } },
    });
  }
  return api.POST("/v1/pupils/{pupil_id}/phone-authorisations", {
    body: c.body, params: { header, path: { pupil_id: c.pupilId } },
  });
}

async function send(item: Queued): Promise<Outcome> {
  item.state = "sending";
  item.tries += 1;
  await save();
  let answer: Awaited<ReturnType<typeof post>>;
  try {
    answer = await post(item);
  } catch (error) {
    item.state = "waiting";
    await save();
    if (unreachable(error)) return { ok: false, offline: true, item };
    throw error;
  }
  const status = answer.response.status;
  if (answer.response.ok) {
    items = items.filter((i) => i.key !== item.key);
    await save();
    return { ok: true, item, body: answer.data };
  }
  if (status >= 500 || status === 408 || status === 429 || status === 401) {
    // The service is there but cannot answer now (or the token needs renewing): try again later.
    item.state = "waiting";
    await save();
    return { ok: false, offline: true, item };
  }
  const problem = (answer.error ?? { type: "", title: String(status), status }) as Problem;
  const gone = problem.current_state?.gone;
  item.state = "conflict";
  item.problem = {
    status, code: problemCode(problem), title: problem.title, detail: problem.detail ?? null,
    reasons: (problem.pupils ?? []).map((p) => p.reason),
    // Only the name of who collected is kept on the device, never their contact details.
    gone: gone ? { how: gone.how, at: gone.at, adult: (gone as { adult?: { name?: string } | null }).adult?.name ?? null } : null,
  };
  await save();
  return { ok: false, offline: false, item };
}

/** Queue a command (kept before anything is sent), then try to send it now. */
export async function submit(command: Command, names: string[], adult: string | null): Promise<Outcome> {
  await load();
  const me = device.me();
  if (!me) throw new Error("not signed in");
  const guard = me.device?.kind === "gate_tablet" ? device.guard() : null;
  const item: Queued = {
    key: crypto.randomUUID(), command, deviceTime: deviceTime(), names, adult, state: "waiting", tries: 0,
    staffId: me.staff_id, staffName: me.name,
    ...(guard ? { guardId: guard.staff_id, guardName: guard.name } : {}),
  };
  return locked(async () => {
    items.push(item);
    await save();
    if (!navigator.onLine) return { ok: false, offline: true, item } as Outcome;
    return send(item);
  });
}

/** Send what waits, oldest first; stop at the first that cannot reach the service. Only what
 * the signed-in staff member made is sent: a record is never sent under someone else's name. */
export async function replay(): Promise<Outcome[]> {
  await load();
  return locked(async () => {
    const done: Outcome[] = [];
    const me = device.me();
    for (const item of items.filter((i) => i.state === "waiting" && i.staffId === me?.staff_id)) {
      const outcome = await send(item);
      done.push(outcome);
      if (!outcome.ok && outcome.offline) break;
    }
    return done;
  });
}

/** The guard has seen a conflict: only then does it leave the screen. */
export async function dismiss(key: string): Promise<void> {
  await load();
  await locked(async () => {
    items = items.filter((i) => i.key !== key || i.state !== "conflict");
    await save();
  });
}

export function waiting(list: Queued[]): Queued[] {
  return list.filter((i) => i.state !== "conflict");
}

/** The pupils a waiting release (or going home alone) has already sent away, on this device. */
export function leaving(list: Queued[]): Set<string> {
  const ids = new Set<string>();
  for (const q of waiting(list)) {
    if (q.command.kind === "release") q.command.body.pupil_ids.forEach((id) => ids.add(id));
    if (q.command.kind === "home_alone") ids.add(q.command.body.pupil_id);
  }
  return ids;
}
