// The safety officer's screens (安全员), and the inspector's (督导) read-only view of the same:
// the day's alerts with their escalation history, a pupil's afternoon as a timeline, the day's
// incidents with their steps; the inspector also downloads the care log and the publication,
// searches the audit trail, takes a pupil's evidence pack, sees the log verified and the access
// record, and is shown no control that writes.
import { useMemo, useState } from "preact/hooks";
import { AlertList } from "../board/Alerts";
import { WRITERS } from "../board/Board";
import { useSchoolNow } from "../board/live";
import { Shell } from "../board/Shell";
import type { SignedIn } from "../device";
import { useNow } from "../hooks";
import { t } from "../i18n";
import { AsOf } from "./AsOf";
import { AccessRecord, AuditSearch, PupilPack, Verification } from "./Evidence";
import { Exports } from "./Exports";
import { Incidents } from "./Incidents";
import { Timeline } from "./Timeline";

type Tab = "alerts" | "timeline" | "asof" | "incidents" | "exports" | "audit" | "pack" | "verify" | "access";

export function Safety({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const now = useNow(30000);
  const live = useSchoolNow();
  const { school, roster } = live;
  const tz = school?.timezone ?? "Asia/Shanghai";
  const canWrite = WRITERS.includes(me.role);
  const inspector = me.role === "inspector";
  const [tab, setTab] = useState<Tab>("alerts");
  const [pupil, setPupil] = useState<string | null>(null);
  const names = useMemo(() => new Map((roster?.pupils ?? []).map((p) => [p.pupil_id, p.name])), [roster]);
  const tabs: Tab[] = inspector
    ? ["alerts", "timeline", "asof", "incidents", "exports", "audit", "pack", "verify", "access"]
    : ["alerts", "timeline", "asof", "incidents"];
  const openAlerts = live.alerts.filter((a) => a.status !== "resolved").length;

  return (
    <Shell me={me} title={inspector ? t("inspector.title") : t("safety.title")} live={live} onSignOut={onSignOut}>
      <nav class="tabs" role="tablist" aria-label={t("safety.sections")}>
        {tabs.map((x) => (
          <button key={x} type="button" role="tab" aria-selected={tab === x} class={tab === x ? "tab chosen" : "tab"}
            data-testid={`tab-${x}`} onClick={() => setTab(x)}>
            {t(`safety.tab.${x}`)}{x === "alerts" && openAlerts > 0 ? ` (${openAlerts})` : ""}
          </button>
        ))}
      </nav>
      <div class="safety-body">
        {tab === "alerts" && (
          <section data-testid="safety-alerts">
            <AlertList alerts={live.alerts} tz={tz} now={now} canWrite={canWrite} onChanged={live.putAlert}
              onPupil={(id) => { setPupil(id); setTab("timeline"); }} />
          </section>
        )}
        {tab === "timeline" && <Timeline pupils={roster?.pupils ?? []} tz={tz} initial={pupil} alerts={live.alerts} />}
        {tab === "asof" && school && <AsOf school={school} tz={tz} />}
        {tab === "incidents" && <Incidents tz={tz} names={names} canWrite={canWrite} position={roster?.position ?? 0} />}
        {tab === "exports" && school && <Exports school={school} />}
        {tab === "audit" && <AuditSearch pupils={roster?.pupils ?? []} tz={tz} names={names} />}
        {tab === "pack" && school && <PupilPack pupils={roster?.pupils ?? []} school={school} />}
        {tab === "verify" && <Verification tz={tz} />}
        {tab === "access" && <AccessRecord pupils={roster?.pupils ?? []} tz={tz} names={names} />}
      </div>
    </Shell>
  );
}
