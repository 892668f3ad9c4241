// What every form on the admin's desk shares: a fresh Idempotency-Key per command, the answer's
// problem turned into a note and into messages at the fields it names.
import type { ComponentChildren } from "preact";
import { type Problem, problemCode } from "../api/client";
import { known, t } from "../i18n";

export const key = () => ({ "idempotency-key": crypto.randomUUID() });

export type Outcome = { ok: boolean; text: string; fields: Record<string, string> };

/** The fields a 422 names (the last part of each: "adult.name" is at "name"), with their message. */
export function refused(error: unknown): Outcome {
  const p = (error ?? { type: "unknown", title: "", status: 0 }) as Problem;
  const fields: Record<string, string> = {};
  const errors = Array.isArray(p.errors) ? (p.errors as { field: string; message: string }[]) : [];
  for (const e of errors) fields[e.field] = e.message;
  return { ok: false, text: known("admin.problem", problemCode(p), "admin.problem.unknown"), fields };
}

export function done(text: string): Outcome {
  return { ok: true, text, fields: {} };
}

export function Note({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return null;
  return <p class={outcome.ok ? "ok-note" : "error"} role="status">{outcome.text}</p>;
}

/** A labelled control, and what the service said is wrong with it (in the catalogue's words;
 * the service's own words on hover). */
export function Field({ label, name, outcome, children }: {
  label: string; name: string; outcome: Outcome | null; children: ComponentChildren;
}) {
  const wrong = outcome?.fields[name];
  return (
    <label class={wrong ? "field wrong" : "field"} data-field={name}>
      <span>{label}</span>
      {children}
      {wrong !== undefined && <span class="field-error" role="alert" title={wrong} data-testid="field-error" data-error-at={name}>{t("admin.field.invalid")}</span>}
    </label>
  );
}

/** The text of an input or select that changed. */
export const value = (e: Event) => (e.target as HTMLInputElement).value;
