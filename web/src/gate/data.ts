// Today at the gate: the school, today's roster and the pupils' files, from the device first and
// then from the service; kept live by the server-sent event stream and saved back to the device.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, type Pupil, type Roster, type RosterPupil, type School, unreachable } from "../api/client";
import { cache } from "../cache";

export type Live = "connecting" | "live" | "offline";

export interface Today {
  school: School | null;
  roster: Roster | null;
  details: Map<string, Pupil>;
  live: Live;
  savedAt: string | null; // when the roster on the device was last refreshed
  unauthorised: boolean;
  refresh: () => Promise<void>;
  detail: (id: string) => Promise<Pupil | null>;
  patch: (id: string, change: Partial<RosterPupil>) => void;
  putDetail: (p: Pupil) => void;
}

const PREFETCH = 4; // files fetched at once in the background

export function useToday(gateId: string | null): Today {
  const [school, setSchool] = useState<School | null>(null);
  const [roster, setRoster] = useState<Roster | null>(null);
  const [details, setDetails] = useState<Map<string, Pupil>>(() => new Map());
  const [live, setLive] = useState<Live>("connecting");
  const [savedAt, setSavedAt] = useState<string | null>(null);
  const [unauthorised, setUnauthorised] = useState(false);
  const rosterRef = useRef<Roster | null>(null);
  const detailsRef = useRef(details);
  const saveTimer = useRef<number | undefined>(undefined);

  const putRoster = useCallback((r: Roster, persist: boolean) => {
    rosterRef.current = r;
    setRoster(r);
    if (persist) {
      clearTimeout(saveTimer.current);
      saveTimer.current = window.setTimeout(() => void cache.saveRoster(r), 300);
    }
  }, []);

  const putDetail = useCallback((p: Pupil) => {
    const next = new Map(detailsRef.current);
    next.set(p.pupil_id, p);
    detailsRef.current = next;
    setDetails(next);
  }, []);

  const fetchDetail = useCallback(async (id: string): Promise<Pupil | null> => {
    try {
      const { data, response } = await api.GET("/v1/pupils/{pupil_id}", { params: { path: { pupil_id: id } } });
      if (response.status === 401) setUnauthorised(true);
      if (!data) return null;
      putDetail(data);
      await cache.savePupil(data);
      return data;
    } catch (e) {
      if (!unreachable(e)) throw e;
      return null;
    }
  }, [putDetail]);

  const detail = useCallback(async (id: string): Promise<Pupil | null> => {
    const known = detailsRef.current.get(id);
    if (known) {
      if (navigator.onLine) void fetchDetail(id); // shown now from the device, refreshed behind
      return known;
    }
    const kept = await cache.pupil(id);
    if (kept) {
      putDetail(kept.value);
      if (navigator.onLine) void fetchDetail(id);
      return kept.value;
    }
    return fetchDetail(id);
  }, [fetchDetail, putDetail]);

  const refresh = useCallback(async () => {
    try {
      const [s, r] = await Promise.all([api.GET("/v1/school"), api.GET("/v1/roster")]);
      if (s.response.status === 401 || r.response.status === 401) {
        setUnauthorised(true);
        return;
      }
      if (s.data) {
        setSchool(s.data);
        await cache.saveSchool(s.data);
      }
      if (r.data) {
        putRoster(r.data, true);
        setSavedAt(new Date().toISOString());
      }
    } catch (e) {
      if (!unreachable(e)) throw e;
      setLive("offline");
    }
  }, [putRoster]);

  // First what the device kept, at once; then the service.
  useEffect(() => {
    let gone = false;
    void (async () => {
      const [s, r] = await Promise.all([cache.school(), cache.roster()]);
      if (gone) return;
      if (s) setSchool(s.value);
      if (r && !rosterRef.current) {
        putRoster(r.value, false);
        setSavedAt(r.savedAt);
      }
      if (navigator.onLine) await refresh();
    })();
    return () => {
      gone = true;
    };
  }, [refresh, putRoster]);

  // The files of the pupils this gate deals with, kept on the device for the card offline.
  useEffect(() => {
    if (!roster || !gateId || !navigator.onLine) return;
    const wanted = roster.pupils.filter((p) => (p.place?.id === gateId || p.pending?.place.id === gateId)
      && p.status !== "gone" && !detailsRef.current.has(p.pupil_id));
    let i = 0;
    const worker = async () => {
      while (i < wanted.length) {
        const row = wanted[i++]!;
        const kept = await cache.pupil(row.pupil_id);
        if (kept && kept.savedAt.slice(0, 10) === new Date().toISOString().slice(0, 10)) putDetail(kept.value);
        else await fetchDetail(row.pupil_id);
      }
    };
    void Promise.all(Array.from({ length: PREFETCH }, worker));
  }, [roster?.position, gateId, fetchDetail, putDetail]);

  // The live stream: a fresh single-use ticket on every (re)connection, resuming where it was.
  const position = roster?.position;
  const ready = position !== undefined;
  useEffect(() => {
    if (!ready) return;
    let source: EventSource | null = null;
    let timer: number | undefined;
    let stopped = false;
    const connect = async () => {
      if (stopped) return;
      if (!navigator.onLine) {
        setLive("offline");
        return;
      }
      setLive("connecting");
      try {
        const { data } = await api.POST("/v1/stream/tickets");
        if (!data || stopped) throw new Error("no ticket");
        const from = rosterRef.current?.position ?? 0;
        const url = `/v1/stream?ticket=${encodeURIComponent(data.ticket)}&last_event_id=${from}`;
        source = new EventSource(url);
        source.onopen = () => setLive("live");
        source.addEventListener("pupil", (ev) => {
          const e = ev as MessageEvent<string>;
          const change = JSON.parse(e.data) as RosterPupil & { day: string; session: string };
          const r = rosterRef.current;
          if (!r || change.day !== r.day || change.session !== r.session) return;
          const pupils = r.pupils.map((p) => (p.pupil_id === change.pupil_id && (change.version ?? 0) >= p.version
            ? { ...p, ...change, initials: p.initials, initial_options: p.initial_options, grade: p.grade, band: p.band }
            : p));
          putRoster({ ...r, pupils, position: Number(e.lastEventId) || r.position }, true);
        });
        source.onerror = () => {
          source?.close();
          setLive(navigator.onLine ? "connecting" : "offline");
          timer = window.setTimeout(() => void connect(), 3000);
        };
      } catch {
        setLive(navigator.onLine ? "connecting" : "offline");
        timer = window.setTimeout(() => void connect(), 3000);
      }
    };
    const online = () => {
      clearTimeout(timer);
      source?.close();
      void refresh().then(connect);
    };
    const offline = () => {
      source?.close();
      setLive("offline");
    };
    addEventListener("online", online);
    addEventListener("offline", offline);
    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      source?.close();
      removeEventListener("online", online);
      removeEventListener("offline", offline);
    };
  }, [ready, refresh, putRoster]);

  const patch = useCallback((id: string, change: Partial<RosterPupil>) => {
    const r = rosterRef.current;
    if (!r) return;
    putRoster({ ...r, pupils: r.pupils.map((p) => (p.pupil_id === id ? { ...p, ...change } : p)) }, true);
  }, [putRoster]);

  const keepDetail = useCallback((p: Pupil) => {
    putDetail(p);
    void cache.savePupil(p);
  }, [putDetail]);

  return { school, roster, details, live, savedAt, unauthorised, refresh, detail, patch, putDetail: keepDetail };
}
