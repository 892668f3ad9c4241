import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Admin } from "./admin/Admin";
import { device, type SignedIn } from "./device";
import { boardScreenFor } from "./board/route";
import { Gate } from "./gate/Gate";
import { useSignal } from "./hooks";
import { lang, t } from "./i18n";
import { KeysScreen } from "./safety/Keys";
import { SignIn } from "./SignIn";
import { Teacher } from "./teacher/Teacher";
import "./styles.css";

const saved = device.lang();
if (saved === "en" || saved === "zh") lang.value = saved;
document.documentElement.lang = lang.value === "zh" ? "zh-CN" : "en";

function App() {
  const current = useSignal(lang); // every screen re-renders in the new language
  useEffect(() => {
    document.title = t("app.title");
  }, [current]);
  const [me, setMe] = useState<SignedIn | null>(() => (device.token() ? device.me() : null));
  if (!me) return <SignIn onSignedIn={setMe} />;
  // Board, safety officer, inspector (web/src/board/route.ts).
  const Routed = boardScreenFor(me);
  if (Routed) return <Routed me={me} onSignOut={() => setMe(null)} />;
  // An admin's signing keys and checkpoints (web/src/safety/Keys.tsx).
  if (me.role === "admin" && location.hash === "#evidence") return <KeysScreen me={me} onSignOut={() => setMe(null)} />;
  // -- by role: a teacher lands on their phone screen (web/src/teacher/) --
  if (me.role === "teacher") return <Teacher me={me} onSignOut={() => setMe(null)} />;
  if (me.role === "admin") return <Admin me={me} onSignOut={() => setMe(null)} />;
  // -- end by role --
  return <Gate me={me} onSignOut={() => setMe(null)} />;
}

render(<App />, document.getElementById("root")!);

if ("serviceWorker" in navigator) {
  // The app shell keeps loading offline after a first visit.
  void navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL });
}
