// What this device keeps for itself: the staff token (this browser's storage only), its own id,
// the gate it stands at, and the language of its screens.
const KEY = { token: "handover.token", me: "handover.me", id: "handover.device", gate: "handover.gate", lang: "handover.lang" };

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
  lang: (): string | null => read(KEY.lang),
  setLang: (lang: string): void => localStorage.setItem(KEY.lang, lang),
};
