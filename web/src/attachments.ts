// An incident's photos and scanned notes: uploaded as a form with the staff token in the
// Authorization header (never in a URL), and read back the same way into an object URL.
import { type Problem, problemCode, type Schemas } from "./api/client";
import { device } from "./device";
import { noteServerTime } from "./time";

export type IncidentOut = Schemas["IncidentOut"];
export type AttachmentOut = Schemas["AttachmentOut"];
/** A refusal names its problem code (too-large, unsupported-media, rule, ...): the screen words it. */
export type Uploaded = { ok: true; incident: IncidentOut } | { ok: false; status: number; code: string; detail: string };

export const ACCEPTED = "image/jpeg,image/png,image/webp,application/pdf";
export const MAX_BYTES = 10 * 1024 * 1024;

function headers(extra: Record<string, string> = {}): Headers {
  const h = new Headers(extra);
  const token = device.token();
  if (token) h.set("Authorization", `Bearer ${token}`);
  h.set("X-Device-Id", device.id());
  return h;
}

/** Attach a file to an incident; the answer is the incident with its attachments. */
export async function uploadAttachment(incidentId: string, file: File, caption = "", key: string = crypto.randomUUID()): Promise<Uploaded> {
  const form = new FormData();
  form.append("file", file, file.name || "photo.jpg");
  if (caption.trim()) form.append("caption", caption.trim());
  const response = await fetch(`/v1/incidents/${encodeURIComponent(incidentId)}/attachments`, {
    method: "POST", body: form, headers: headers({ "Idempotency-Key": key }),
  });
  noteServerTime(response.headers.get("X-Server-Time"));
  if (response.ok) return { ok: true, incident: (await response.json()) as IncidentOut };
  let detail = "";
  let code = "";
  try {
    const p = (await response.json()) as Problem;
    detail = p.detail ?? p.title;
    code = problemCode(p);
  } catch {
    detail = response.statusText;
  }
  return { ok: false, status: response.status, code, detail };
}

/** An attached file (or an image's thumbnail) as an object URL the page may show; revoke it after. */
export async function attachmentUrl(incidentId: string, sha256: string, thumbnail: boolean): Promise<string> {
  const query = thumbnail ? "?thumbnail=true" : "";
  const response = await fetch(`/v1/incidents/${encodeURIComponent(incidentId)}/attachments/${sha256}${query}`, { headers: headers() });
  if (!response.ok) throw new Error(String(response.status));
  return URL.createObjectURL(await response.blob());
}
