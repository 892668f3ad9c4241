// Finding a pupil on the device, over today's roster kept here: by name, by pinyin initials
// (every reading of a polyphonic character: 曾 is c or z), or by class in any spelling.
import type { RosterPupil } from "./api/client";

const DIGITS: Record<string, number> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };

function number(text: string): number | null {
  if (/^\d+$/.test(text)) return Number(text);
  if (text === "十") return 10;
  const m = /^([一二三四五六七八九])?十([一二三四五六七八九])?$/.exec(text);
  if (m) return (m[1] ? DIGITS[m[1]]! : 1) * 10 + (m[2] ? DIGITS[m[2]]! : 0);
  return text.length === 1 && text in DIGITS ? DIGITS[text]! : null;
}

const N = "(\\d{1,2}|[一二三四五六七八九十两]{1,3})";
const PATTERNS = [
  new RegExp(`^${N}年级?[(]?${N}[)]?班?$`), // 三年级(2)班, 三年2班, 3年级2班
  new RegExp(`^${N}[(]${N}[)]班?$`), // 三(2)班, 3(2)
  new RegExp(`^${N}[-./]${N}班?$`), // 3-2, 3.2
  new RegExp(`^${N}班$`), // a class number alone is not a class: handled below
];

/** (grade, class number) for a class written any common way, or null. */
export function classOf(text: string): [number, number] | null {
  const compact = text.normalize("NFKC").replace(/\s+/g, "").replace(/[（【\[]/g, "(").replace(/[）】\]]/g, ")");
  for (const pattern of PATTERNS.slice(0, 3)) {
    const m = pattern.exec(compact);
    if (m) {
      const g = number(m[1]!);
      const c = number(m[2]!);
      if (g && c && g <= 9 && c <= 99) return [g, c];
    }
  }
  const digits = /^([1-9])(\d{1,2})$/.exec(compact); // 32: grade 3, class 2
  return digits ? [Number(digits[1]), Number(digits[2])] : null;
}

function classNo(label: string | null): number | null {
  const found = label ? classOf(label) : null;
  return found ? found[1] : null;
}

function initialsMatch(q: string, row: RosterPupil): boolean {
  const options = row.initial_options ?? [...row.initials].map((c) => [c]);
  if (q.length > options.length) return false;
  return [...q].every((letter, i) => options[i]!.includes(letter));
}

export function matches(query: string, row: RosterPupil): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return false;
  if (row.name.toLowerCase().includes(q)) return true;
  if (/^[a-z]+$/.test(q) && initialsMatch(q, row)) return true;
  const wanted = classOf(q);
  return wanted !== null && wanted[0] === row.grade && wanted[1] === classNo(row.class_label);
}

export function search(query: string, rows: RosterPupil[], limit = 30): RosterPupil[] {
  const out: RosterPupil[] = [];
  for (const row of rows) {
    if (matches(query, row)) {
      out.push(row);
      if (out.length >= limit) break;
    }
  }
  return out;
}
