// The school as the board and the safety office read it: the school, today's roster with its
// counts, and the day's alerts, read anew (briefly debounced) whenever the live stream says
// something changed. Alert texts come in the screen's language.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, type Roster, type Schemas, type School, unreachable } from "../api/client";
import { useSignal } from "../hooks";
import { lang } from "../i18n";

export type Alert = Schemas["AlertOut"];
export type Live = "connecting" | "live" | "offline";

/** The Accept-Language the API renders texts in, for the screen's language. */
export function acceptLanguage(): Record<string, string> {
  return { "Accept-Language": lang.value === "zh" ? "zh-CN" : "en" };
}

export interface SchoolNow {
  school: School | null;
  roster: Roster | null;
  alerts: Alert[];
  live: Live;
  unauthorised: boolean;
  error: string | null;
  refresh: () => Promise<void>;
  putAlert: (a: Alert) => void;
}

const SETTLE_MS = 400; // events come in bursts (a class handed over): read once after the burst

export function useSchoolNow(): SchoolNow {
  const current = useSignal(lang);
  const [school, setSchool] = useState<School | null>(null);
  const [roster, setRoster] = useState<Roster | null>(null);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [live, setLive] = useState<Live>("connecting");
  const [unauthorised, setUnauthorised] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const position = useRef<number | null>(null);

  const refresh = useCallback(async () => {
    try {
      const [s, r, a] = await Promise.all([
        api.GET("/v1/school"),
        api.GET("/v1/roster"),
        api.GET("/v1/alerts", { headers: acceptLanguage() }),
      ]);
      if ([s, r, a].some((x) => x.response.status === 401)) {
        setUnauthorised(true);
        return;
      }
      if (s.data) setSchool(s.data);
      if (r.data) {
        setRoster(r.data);
        position.current = Math.max(position.current ?? 0, r.data.position);
      }
      if (a.data) {
        const day = r.data ? String(r.data.day) : null;
        // Today's alerts, and any older one still open.
        setAlerts(a.data.alerts.filter((x) => x.status !== "resolved" || !day || x.raised_at.slice(0, 10) >= day));
      }
      setError(null);
    } catch (e) {
      if (!unreachable(e)) throw e;
      setLive("offline");
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh, current]);

  const ready = roster !== null;
  useEffect(() => {
    if (!ready) return;
    let source: EventSource | null = null;
    let retry: number | undefined;
    let settle: number | undefined;
    let stopped = false;
    const later = () => {
      clearTimeout(settle);
      settle = window.setTimeout(() => void refresh(), SETTLE_MS);
    };
    const connect = async () => {
      if (stopped) return;
      setLive(navigator.onLine ? "connecting" : "offline");
      try {
        const { data } = await api.POST("/v1/stream/tickets");
        if (!data || stopped) throw new Error("no ticket");
        const from = position.current ?? 0;
        source = new EventSource(`/v1/stream?ticket=${encodeURIComponent(data.ticket)}&last_event_id=${from}`);
        source.onopen = () => setLive("live");
        const seen = (ev: Event) => {
          const id = Number((ev as MessageEvent<string>).lastEventId);
          if (id) position.current = Math.max(position.current ?? 0, id);
          later();
        };
        source.addEventListener("pupil", seen);
        source.addEventListener("alert", seen);
        source.onerror = () => {
          source?.close();
          setLive(navigator.onLine ? "connecting" : "offline");
          retry = window.setTimeout(() => void connect(), 3000);
        };
      } catch {
        setLive(navigator.onLine ? "connecting" : "offline");
        retry = window.setTimeout(() => void connect(), 3000);
      }
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      clearTimeout(settle);
      source?.close();
    };
  }, [ready, refresh]);

  const putAlert = useCallback((a: Alert) => {
    setAlerts((list) => list.map((x) => (x.alert_id === a.alert_id ? a : x)));
  }, []);

  return { school, roster, alerts, live, unauthorised, error, refresh, putAlert };
}
