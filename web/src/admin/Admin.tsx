// The admin's desk (教导处): the school's pupils and their records, the roster import, its devices, its staff and their tokens and PINs, and the
// school's setup at a glance. Every action goes through the API as the admin signed in.
import { useEffect, useState } from "preact/hooks";
import { api, type School } from "../api/client";
import { cache } from "../cache";
import { device, type SignedIn } from "../device";
import { DutyPanel } from "../duty/Duty";
import { Verification } from "../safety/Evidence";
import { KeysPanel } from "../safety/Keys";
import { t } from "../i18n";
import { LangSwitch } from "../LangSwitch";
import { Devices } from "./Devices";
import { Pupils } from "./Pupils";
import { Roster } from "./Roster";
import { Rules } from "./Rules";
import { ScheduleEditor } from "./Schedule";
import { Setup } from "./Setup";
import { StaffList } from "./Staff";
import "./admin.css";

const TABS = ["pupils", "roster", "devices", "staff", "duty", "setup", "schedule", "rules", "keys"] as const;
type Tab = (typeof TABS)[number];

export function Admin({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const [tab, setTab] = useState<Tab>("devices");
  const [school, setSchool] = useState<School | null>(null);
  const [unauthorised, setUnauthorised] = useState(false);

  async function load() {
    const { data, response } = await api.GET("/v1/school");
    if (data) setSchool(data);
    if (response.status === 401) setUnauthorised(true);
  }
  useEffect(() => {
    void load();
  }, []);

  const signOut = () => {
    device.signOut();
    void cache.forget();
    onSignOut();
  };
  if (unauthorised) {
    return (
      <main class="signin">
        <p class="error" role="alert">{t("gate.unauthorised")}</p>
        <button class="primary big" type="button" onClick={signOut}>{t("gate.sign_out")}</button>
      </main>
    );
  }
  return (
    <div class="screen admin">
      <header class="bar">
        <h1>{t("admin.title")}{school ? ` · ${school.name}` : ""}</h1>
        <p class="who-am-i">{me.name}</p>
        <LangSwitch />
        <button class="ghost" type="button" onClick={signOut} data-testid="sign-out">{t("gate.sign_out")}</button>
      </header>
      <nav class="tabs" role="tablist" aria-label={t("admin.title")}>
        {TABS.map((k) => (
          <button type="button" role="tab" key={k} aria-selected={tab === k} class={tab === k ? "chosen" : ""}
            data-testid={`admin-tab-${k}`} onClick={() => setTab(k)}>{t(`admin.tab.${k}`)}</button>
        ))}
      </nav>
      <main class="admin-body">
        {school && tab === "pupils" && <Pupils school={school} />}
        {school && tab === "roster" && <Roster school={school} onChanged={() => void load()} />}
        {school && tab === "devices" && <Devices school={school} />}
        {school && tab === "staff" && <StaffList school={school} onChanged={() => void load()} />}
        {school && tab === "duty" && <DutyPanel me={me} school={school} />}
        {school && tab === "setup" && <Setup school={school} onChanged={() => void load()} />}
        {school && tab === "rules" && <Rules />}
        {school && tab === "schedule" && <ScheduleEditor school={school} onSaved={() => void load()} />}
        {school && tab === "keys" && <div class="safety-body"><KeysPanel tz={school.timezone} /><Verification tz={school.timezone} /></div>}
      </main>
    </div>
  );
}
