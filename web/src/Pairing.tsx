// Pairing this device (配对): an admin registers the tablet or board and reads out a short code;
// the device exchanges it once (POST /v1/devices/pair, no token) for its own token, then lands on
// its kind's screen: a gate tablet on the gate, its gate chosen; a duty board on the board.
import { useState } from "preact/hooks";
import { api, type Problem, problemCode, unreachable } from "./api/client";
import { device, type SignedIn } from "./device";
import { t } from "./i18n";

function refusal(p: Problem | undefined, response: Response): string {
  const code = p ? problemCode(p) : "";
  if (response.status === 429) return t("pair.wait", { s: response.headers.get("Retry-After") ?? "60" });
  if (code === "pairing-code-used") return t("pair.used");
  if (code === "pairing-code-expired") return t("pair.expired");
  if (code === "pairing-code-unknown" || response.status === 422) return t("pair.unknown");
  if (response.status === 409) return t("pair.revoked");
  return t("error.server", { status: response.status });
}

export function Pairing({ onSignedIn }: { onSignedIn: (me: SignedIn) => void }) {
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function pair(e: Event) {
    e.preventDefault();
    const typed = code.trim();
    if (!typed) {
      setError(t("pair.empty"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { data, error: problem, response } = await api.POST("/v1/devices/pair", { body: { code: typed } });
      if (!data) {
        setError(refusal(problem as Problem | undefined, response));
        return;
      }
      const who = await api.GET("/v1/me", { headers: { Authorization: `Bearer ${data.token}` } });
      if (!who.data) {
        setError(t("error.server", { status: who.response.status }));
        return;
      }
      const me: SignedIn = { ...who.data, device: { kind: data.kind, place_id: data.place_id } };
      device.signIn(data.token, me);
      if (data.kind === "gate_tablet" && data.place_id) device.setGate(data.place_id);
      onSignedIn(me);
    } catch (err) {
      setError(unreachable(err) ? t("signin.offline") : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="panel" onSubmit={pair} data-testid="pairing">
      <h2>{t("signin.pair.title")}</h2>
      <label for="pair-code">{t("pair.code")}</label>
      <input id="pair-code" type="text" autocomplete="off" autocapitalize="characters" spellcheck={false} value={code}
        data-testid="pair-code" placeholder="XXXX-XXXX" maxLength={20}
        onInput={(e) => setCode((e.target as HTMLInputElement).value)} />
      <p class="hint">{t("pair.hint")}</p>
      {error && <p class="error" role="alert" data-testid="pair-error">{error}</p>}
      <button class="secondary big" type="submit" disabled={busy} data-testid="pair">{t("pair.submit")}</button>
    </form>
  );
}
