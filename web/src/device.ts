// What this device keeps for itself: the staff token (this browser's storage only), its own id,
// the gate it stands at, the guard on duty at a gate tablet, and the language of its screens.
const KEY = {
  token: "handover.token", me: "handover.me", id: "handover.device", gate: "handover.gate", lang: "handover.lang",
  guard: "handover.guard",
};

/** The guard signed on at this gate tablet (with their PIN): every release names them. */
export interface OnDuty {
  staff_id: string;
  name: string;
  gate_id: string;
  day: string;
}

export interface SignedIn {
  school_id: string;
  staff_id: string;
  name: string;
  role: string;
  roles: string[];
  device?: { kind: string; place_id: string | null }; // a paired device: what it is, where it stands
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export const device = {
  token: (): string | null => read(KEY.token),
  me: (): SignedIn | null => {
    const raw = read(KEY.me);
    return raw ? (JSON.parse(raw) as SignedIn) : null;
  },
  signIn(token: string, me: SignedIn): void {
    localStorage.setItem(KEY.token, token);
    localStorage.setItem(KEY.me, JSON.stringify(me));
  },
  signOut(): void {
    localStorage.removeItem(KEY.token);
    localStorage.removeItem(KEY.me);
    localStorage.removeItem(KEY.guard);
  },
  id(): string {
    let id = read(KEY.id);
    if (!id) {
      id = `web-${crypto.randomUUID()}`;
      localStorage.setItem(KEY.id, id);
    }
    return id;
  },
  gate: (): string | null => read(KEY.gate),
  setGate: (gateId: string): void => localStorage.setItem(KEY.gate, gateId),
  guard: (): OnDuty | null => {
    const raw = read(KEY.guard);
    return raw ? (JSON.parse(raw) as OnDuty) : null;
  },
  setGuard(guard: OnDuty | null): void {
    if (guard) localStorage.setItem(KEY.guard, JSON.stringify(guard));
    else localStorage.removeItem(KEY.guard);
  },
  lang: (): string | null => read(KEY.lang),
  setLang: (lang: string): void => localStorage.setItem(KEY.lang, lang),
};
