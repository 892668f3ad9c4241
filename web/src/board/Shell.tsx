// The bar over the board, safety and inspector screens: the screen, who is signed in, whether
// it is live, the language switch and signing out.
import type { ComponentChildren } from "preact";
import { cache } from "../cache";
import { device, type SignedIn } from "../device";
import { t } from "../i18n";
import { LangSwitch } from "../LangSwitch";
import type { SchoolNow } from "./live";

export function Shell({ me, title, live, onSignOut, children }: {
  me: SignedIn; title: string; live: SchoolNow; onSignOut: () => void; children: ComponentChildren;
}) {
  const signOut = () => {
    device.signOut();
    void cache.forget(); // nothing of the school stays on a shared device
    onSignOut();
  };
  if (live.unauthorised) {
    return (
      <main class="signin">
        <p class="error" role="alert">{t("gate.unauthorised")}</p>
        <button class="primary big" type="button" onClick={signOut}>{t("gate.sign_out")}</button>
      </main>
    );
  }
  const net = live.live === "live" ? t("net.live") : live.live === "offline" ? t("board.offline") : t("net.connecting");
  return (
    <div class="screen">
      <header class="bar">
        <h1>{title}{live.school ? ` · ${live.school.name}` : ""}</h1>
        <p class="who-am-i">{me.name}</p>
        <p class={`net ${live.live === "offline" ? "off" : "on"}`} role="status" data-testid="net">{net}</p>
        <LangSwitch />
        <button class="ghost" type="button" onClick={signOut} data-testid="sign-out">{t("gate.sign_out")}</button>
      </header>
      <main>{children}</main>
    </div>
  );
}
