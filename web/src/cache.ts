// Today's data kept on the device (IndexedDB) so that search and the pupil's card work offline.
import { clear, del, get, set } from "idb-keyval";
import type { Pupil, Roster, School } from "./api/client";

export interface Kept<T> {
  value: T;
  savedAt: string;
}

async function keep<T>(key: string, value: T): Promise<void> {
  await set(key, { value, savedAt: new Date().toISOString() } satisfies Kept<T>);
}

export const cache = {
  school: () => get<Kept<School>>("school"),
  saveSchool: (s: School) => keep("school", s),
  roster: () => get<Kept<Roster>>("roster"),
  saveRoster: (r: Roster) => keep("roster", r),
  pupil: (id: string) => get<Kept<Pupil>>(`pupil/${id}`),
  savePupil: (p: Pupil) => keep(`pupil/${p.pupil_id}`, p),
  dropPupil: (id: string) => del(`pupil/${id}`),
  /** Signing out leaves no child's data on a shared device (the queue is kept apart). */
  async forget(): Promise<void> {
    const queue = await get("queue");
    await clear();
    if (queue) await set("queue", queue);
  },
};
