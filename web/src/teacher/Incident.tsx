// Report an incident in a few taps: what kind, how bad, which pupils, where, and the first aid.
import { useRef, useState } from "preact/hooks";
import { api, type RosterPupil } from "../api/client";
import { uploadAttachment } from "../attachments";
import { type MessageKey, t } from "../i18n";
import type { Group } from "./model";
import { Choice, Ticks } from "./Parts";
import { keyed, send, useKey } from "./send";

const KINDS = ["injury", "illness", "missing_pupil", "conflict", "attempted_collection", "late_collection", "property", "other"] as const;
const SEVERITIES = ["minor", "serious", "critical"] as const;
type Kind = (typeof KINDS)[number];
type Severity = (typeof SEVERITIES)[number];

export function Incident({ group, pupils, names, said }: {
  group: Group | null; pupils: RosterPupil[]; names: Map<string, string>; said: (ok: boolean, text: string) => void;
}) {
  const [kind, setKind] = useState<Kind | null>(null);
  const [severity, setSeverity] = useState<Severity>("minor");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [where, setWhere] = useState("");
  const [firstAid, setFirstAid] = useState("");
  const [text, setText] = useState("");
  const [photos, setPhotos] = useState<File[]>([]);
  const picker = useRef<HTMLInputElement>(null);
  const k = useKey();
  async function submit() {
    if (!kind) return;
    const out = await send(() => api.POST("/v1/incidents", { body: {
      kind, severity, description: text.trim(), pupil_ids: [...chosen], place_id: group?.group_id ?? null,
      where: where.trim(), first_aid: firstAid.trim() }, ...keyed(k.key()) }), k.done);
    if (out.ok) {
      const pending = out.data.guardians_pending.map((id) => names.get(id) ?? "").filter(Boolean);
      let attached = 0;
      const refused: string[] = [];
      for (const photo of photos) {
        const up = await uploadAttachment(out.data.incident_id, photo).catch(() => null);
        if (up?.ok) attached += 1;
        else refused.push(photo.name);
      }
      said(refused.length === 0, [t("teacher.incident.ack"),
        attached ? t("teacher.incident.photos", { count: attached }) : "",
        refused.length ? t("teacher.incident.photos_refused", { names: refused.join("、") }) : "",
        pending.length ? t("teacher.incident.call", { names: pending.join("、") }) : ""].filter(Boolean).join(" "));
      setPhotos([]);
      setKind(null);
      setChosen(new Set());
      setText("");
      setWhere("");
      setFirstAid("");
    } else said(false, out.text);
  }
  return (
    <section aria-labelledby="incident-title" data-testid="incident">
      <h2 id="incident-title">{t("teacher.incident.title")}</h2>
      <fieldset class="plain">
        <legend>{t("teacher.incident.kind")}</legend>
        <div class="choices">
          {KINDS.map((x) => (
            <Choice key={x} chosen={kind === x} onClick={() => setKind(x)} testid={`kind-${x}`}>{t(`teacher.kind.${x}` as MessageKey)}</Choice>
          ))}
        </div>
      </fieldset>
      <fieldset class="plain">
        <legend>{t("teacher.incident.severity")}</legend>
        <div class="choices">
          {SEVERITIES.map((x) => (
            <Choice key={x} chosen={severity === x} onClick={() => setSeverity(x)} testid={`severity-${x}`}>{t(`teacher.severity.${x}` as MessageKey)}</Choice>
          ))}
        </div>
      </fieldset>
      {pupils.length > 0 && <Ticks pupils={pupils} chosen={chosen} onChange={setChosen} testid="incident-pupil" legend={t("teacher.incident.pupils")} />}
      <label for="incident-text">{t("teacher.incident.what")}</label>
      <textarea id="incident-text" rows={2} maxLength={2000} value={text} data-testid="incident-text"
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <label for="incident-where">{t("teacher.incident.where", { place: group?.room ?? "" })}</label>
      <input id="incident-where" value={where} maxLength={200} data-testid="incident-where"
        onInput={(e) => setWhere((e.target as HTMLInputElement).value)} />
      <label for="incident-aid">{t("teacher.incident.first_aid")}</label>
      <textarea id="incident-aid" rows={2} maxLength={2000} value={firstAid} data-testid="incident-first-aid"
        onInput={(e) => setFirstAid((e.target as HTMLTextAreaElement).value)} />
      <input ref={picker} type="file" accept="image/jpeg,image/png,image/webp" multiple class="file-input" data-testid="incident-photo-file"
        aria-label={t("teacher.incident.photo")} onChange={(e) => {
          const input = e.target as HTMLInputElement;
          const chosen = [...(input.files ?? [])];
          input.value = "";
          setPhotos([...photos, ...chosen]);
        }} />
      <button type="button" class="ghost wide" data-testid="incident-photo" onClick={() => picker.current?.click()}>
        {photos.length ? t("teacher.incident.photo_count", { count: photos.length }) : t("teacher.incident.photo")}</button>
      <button type="button" class="danger big wide" disabled={!kind || !text.trim()} data-testid="incident-submit" onClick={() => void submit()}>
        {t("teacher.incident.submit")}</button>
    </section>
  );
}
