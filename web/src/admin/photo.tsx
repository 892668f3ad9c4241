// A pupil's photo on the admin's desk: shown as it is kept (fetched with the token, never a token
// in a URL), and a new one uploaded; the service checks and scales it.
import { useEffect, useState } from "preact/hooks";
import type { Problem, Pupil } from "../api/client";
import { device } from "../device";
import { known, t } from "../i18n";
import { noteServerTime } from "../time";

function headers(extra: Record<string, string> = {}): Headers {
  const h = new Headers({ ...extra, "X-Device-Id": device.id() });
  const token = device.token();
  if (token) h.set("Authorization", `Bearer ${token}`);
  return h;
}

/** The photo kept, as an object URL while the pupil's card is open. */
export function usePupilPhoto(pupilId: string, sha: string | null | undefined): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    setUrl(null);
    if (!sha) return;
    let live = true;
    let made: string | null = null;
    void fetch(`/v1/pupils/${encodeURIComponent(pupilId)}/photo`, { headers: headers() })
      .then((r) => (r.ok ? r.blob() : null))
      .then((b) => {
        if (b && live) {
          made = URL.createObjectURL(b);
          setUrl(made);
        }
      })
      .catch(() => undefined); // offline: the card goes without
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [pupilId, sha]);
  return url;
}

export const PHOTO_TYPES = "image/jpeg,image/png,image/webp";
const MAX_BYTES = 10 * 1024 * 1024;

export function PupilPhoto({ pupil, onChanged }: { pupil: Pupil; onChanged: (p: Pupil) => void }) {
  const url = usePupilPhoto(pupil.pupil_id, pupil.photo_sha256);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function upload(file: File) {
    if (file.size > MAX_BYTES) return setNote({ ok: false, text: t("admin.photo.too_large") });
    setBusy(true);
    const form = new FormData();
    form.append("file", file, file.name || "photo.jpg");
    try {
      const r = await fetch(`/v1/pupils/${encodeURIComponent(pupil.pupil_id)}/photo`, {
        method: "PUT", body: form, headers: headers({ "Idempotency-Key": crypto.randomUUID() }),
      });
      noteServerTime(r.headers.get("X-Server-Time"));
      if (r.ok) {
        onChanged((await r.json()) as Pupil);
        setNote({ ok: true, text: t("admin.photo.saved") });
        return;
      }
      const status = String(r.status);
      let code = status;
      try {
        const p = (await r.json()) as Problem;
        code = p.status === 422 ? "422" : String(p.status);
      } catch {
        code = status;
      }
      setNote({ ok: false, text: known("admin.photo.problem", code, "admin.problem.unknown") });
    } catch {
      setNote({ ok: false, text: t("admin.problem.unknown") });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="pupil-photo" data-testid="pupil-photo">
      {url ? <img src={url} alt={t("card.photo", { name: pupil.name })} data-testid="pupil-photo-img" />
        : <p class="hint no-photo">{t("admin.photo.none")}</p>}
      <label class="ghost file-button">
        {busy ? t("admin.photo.sending") : pupil.photo_sha256 ? t("admin.photo.replace") : t("admin.photo.add")}
        <input type="file" accept={PHOTO_TYPES} class="file-input" data-testid="pupil-photo-file" disabled={busy}
          onChange={(e) => {
            const input = e.target as HTMLInputElement;
            const file = input.files?.[0];
            input.value = "";
            if (file) void upload(file);
          }} />
      </label>
      {note && <p class={note.ok ? "ok-note" : "error"} role="status">{note.text}</p>}
    </div>
  );
}
