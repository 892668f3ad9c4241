// Small pieces the teacher's screens share: a head-count stepper, a pupil tick list, a choice row.
import type { ComponentChildren } from "preact";
import type { RosterPupil } from "../api/client";
import { t } from "../i18n";

export function Stepper({ value, onChange, label, testid = "count" }:
    { value: number; onChange: (n: number) => void; label: string; testid?: string }) {
  return (
    <div class="stepper" role="group" aria-label={label}>
      <span class="stepper-label">{label}</span>
      <button type="button" class="ghost" aria-label={t("teacher.count.less")} data-testid={`${testid}-minus`}
        onClick={() => onChange(Math.max(0, value - 1))}>−</button>
      <output class="stepper-value" aria-live="polite" data-testid={`${testid}-value`}>{value}</output>
      <button type="button" class="ghost" aria-label={t("teacher.count.more")} data-testid={`${testid}-plus`}
        onClick={() => onChange(value + 1)}>+</button>
    </div>
  );
}

export function Ticks({ pupils, chosen, onChange, testid, legend }: {
  pupils: RosterPupil[]; chosen: Set<string>; onChange: (next: Set<string>) => void; testid: string; legend: string;
}) {
  const all = pupils.length > 0 && pupils.every((p) => chosen.has(p.pupil_id));
  const mixed = new Set(pupils.map((p) => p.class_id)).size > 1; // the class only when it tells them apart
  return (
    <fieldset class="ticks">
      <legend>{legend} <span class="count">{pupils.filter((p) => chosen.has(p.pupil_id)).length}/{pupils.length}</span></legend>
      {pupils.length > 1 && (
        <button type="button" class="ghost small" data-testid={`${testid}-all`}
          onClick={() => onChange(all ? new Set() : new Set(pupils.map((p) => p.pupil_id)))}>
          {all ? t("teacher.tick.none") : t("teacher.tick.all")}
        </button>
      )}
      <ul>
        {pupils.map((p) => (
          <li key={p.pupil_id}>
            <label class="tick">
              <input type="checkbox" data-testid={testid} data-name={p.name} checked={chosen.has(p.pupil_id)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if ((e.target as HTMLInputElement).checked) next.add(p.pupil_id);
                  else next.delete(p.pupil_id);
                  onChange(next);
                }} />
              <span class="who">{p.name}</span>
              {mixed && <span class="rel">{p.class_label}</span>}
            </label>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

export function Choice({ chosen, onClick, children, testid }:
    { chosen: boolean; onClick: () => void; children: ComponentChildren; testid: string }) {
  return (
    <button type="button" class={`choice ${chosen ? "chosen" : ""}`} aria-pressed={chosen} data-testid={testid} onClick={onClick}>
      {children}
    </button>
  );
}

export function Said({ said }: { said: { ok: boolean; text: string; queued?: boolean } | null }) {
  if (!said) return null;
  if (said.queued) return <p class="result result-queued" role="status" data-testid="said-queued">{said.text}</p>;
  return <p class={`result ${said.ok ? "result-ok" : "result-bad"}`} role={said.ok ? "status" : "alert"}
    data-testid={said.ok ? "said-ok" : "said-bad"}>{said.text}</p>;
}
