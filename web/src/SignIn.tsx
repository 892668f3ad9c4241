import { useState } from "preact/hooks";
import { api, unreachable } from "./api/client";
import { device, type SignedIn } from "./device";
import { t } from "./i18n";
import { LangSwitch } from "./LangSwitch";
import { Pairing } from "./Pairing";

export function SignIn({ onSignedIn }: { onSignedIn: (me: SignedIn) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const value = token.trim();
    if (!value) {
      setError(t("signin.empty"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { data, response } = await api.GET("/v1/me", { headers: { Authorization: `Bearer ${value}` } });
      if (data) {
        device.signIn(value, data);
        onSignedIn(data);
      } else {
        setError(response.status === 401 ? t("signin.invalid") : t("error.server", { status: response.status }));
      }
    } catch (err) {
      setError(unreachable(err) ? t("signin.offline") : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin">
      <header class="bar">
        <h1>{t("app.title")}</h1>
        <LangSwitch />
      </header>
      <form class="panel" onSubmit={submit} data-testid="signin-form">
        <h2>{t("signin.title")}</h2>
        <label for="token">{t("signin.token")}</label>
        <input id="token" type="password" autocomplete="off" value={token} data-testid="token"
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} placeholder="hov_…" />
        <p class="hint">{t("signin.kept")}</p>
        {error && <p class="error" role="alert">{error}</p>}
        <button class="primary big" type="submit" disabled={busy} data-testid="signin">{t("signin.submit")}</button>
      </form>
      <Pairing onSignedIn={onSignedIn} />
    </main>
  );
}
