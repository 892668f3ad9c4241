// Times as the school keeps them: in its own time zone, whatever the tablet's clock is set to.
import type { School } from "./api/client";

type Schedule = School["schedule"];

// How far the service's clock is ahead of this device's (from X-Server-Time on every answer):
// a tablet whose clock is wrong, or a demo on its own clock, still judges due and overdue rightly.
let serverOffsetMs = 0;

/** Note the service's time, as an answer just now gave it. */
export function noteServerTime(header: string | null, receivedAt: number = Date.now()): void {
  if (!header) return;
  const at = Date.parse(header);
  if (Number.isNaN(at)) return;
  const moved = Math.abs(at - receivedAt - serverOffsetMs) > 5000;
  serverOffsetMs = at - receivedAt;
  // A clock that was off by more than a few seconds: every screen's "now" is redrawn at once.
  if (moved) dispatchEvent(new Event(SERVER_TIME_CHANGED));
}

export const SERVER_TIME_CHANGED = "handover:server-time";

/** The time now by the service's clock (the device's, until the service has answered once). */
export function serverNow(): Date {
  return new Date(Date.now() + serverOffsetMs);
}

function parts(at: Date, timeZone: string): Record<string, string> {
  const fmt = new Intl.DateTimeFormat("en-GB", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23",
  });
  return Object.fromEntries(fmt.formatToParts(at).map((p) => [p.type, p.value]));
}

/** "17:05" in the school's time zone. */
export function clock(at: Date | string, timeZone: string): string {
  const p = parts(typeof at === "string" ? new Date(at) : at, timeZone);
  return `${p.hour}:${p.minute}`;
}

/** Today (YYYY-MM-DD) in the school's time zone. */
export function isoDay(at: Date, timeZone: string): string {
  const p = parts(at, timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Minutes since midnight, now, in the school's time zone. */
export function minutesNow(timeZone: string, now: Date = serverNow()): number {
  const p = parts(now, timeZone);
  return Number(p.hour) * 60 + Number(p.minute);
}

export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** The ISO weekday (1 = Monday) of a YYYY-MM-DD day. */
export function weekday(day: string): number {
  const d = new Date(`${day}T12:00:00Z`).getUTCDay();
  return d === 0 ? 7 : d;
}

function inSeason(mmdd: string, starts: string, ends: string): boolean {
  return starts <= ends ? starts <= mmdd && mmdd < ends : mmdd >= starts || mmdd < ends;
}

/** When the band is dismissed from the session on this day: the season's time if one applies. */
export function dismissal(schedule: Schedule, session: string, band: string | null, day: string): string | null {
  const s = schedule.sessions.find((x) => x.key === session);
  if (!s || !band) return null;
  const mmdd = day.slice(5);
  const season = (s.seasons ?? []).find((x) => inSeason(mmdd, x.starts, x.ends) && band in (x.dismissals ?? {}));
  return season?.dismissals?.[band] ?? s.dismissals[band] ?? null;
}

/** Is a day within an optional window (dates as YYYY-MM-DD, null: open)? */
export function within(day: string, from?: string | null, to?: string | null): boolean {
  return (!from || from <= day) && (!to || day <= to);
}

/** RFC 3339 with the device's own offset, for X-Device-Time. */
export function deviceTime(at: Date = new Date()): string {
  const off = -at.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const local = new Date(at.getTime() + off * 60000).toISOString().slice(0, 19);
  return `${local}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}
