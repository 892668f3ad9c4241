import { useEffect, useState } from "preact/hooks";
import type { Signal } from "./i18n/signal";
import { SERVER_TIME_CHANGED, serverNow } from "./time";

/** Re-render when the signal changes; its current value. */
export function useSignal<T>(s: Signal<T>): T {
  const [value, setValue] = useState(s.value);
  useEffect(() => s.subscribe(setValue), [s]);
  return value;
}

/** The time now by the service's clock, refreshed every `ms`. */
export function useNow(ms = 30000): Date {
  const [now, setNow] = useState(() => serverNow());
  useEffect(() => {
    const tick = () => setNow(serverNow());
    const timer = setInterval(tick, ms);
    addEventListener(SERVER_TIME_CHANGED, tick);
    return () => {
      clearInterval(timer);
      removeEventListener(SERVER_TIME_CHANGED, tick);
    };
  }, [ms]);
  return now;
}

/** navigator.onLine, kept up to date. */
export function useOnline(): boolean {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    addEventListener("online", on);
    addEventListener("offline", off);
    return () => {
      removeEventListener("online", on);
      removeEventListener("offline", off);
    };
  }, []);
  return online;
}
