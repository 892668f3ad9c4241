// The school's setup at a glance (profile, classes and groups, gates, and today's dismissals by
// grade band, as the schedule gives them), and its editing.
import type { School } from "../api/client";
import { SchoolEdit } from "./SchoolEdit";
import { lang, t } from "../i18n";
import { dismissal, isoDay } from "../time";

/** The time zone as people call it (中国标准时间), not its database name. */
function zoneName(timeZone: string): string {
  const parts = new Intl.DateTimeFormat(lang.value === "zh" ? "zh-CN" : "en", { timeZone, timeZoneName: "long" })
    .formatToParts(new Date());
  return parts.find((p) => p.type === "timeZoneName")?.value ?? timeZone;
}

export function Setup({ school, onChanged }: { school: School; onChanged: () => void }) {
  const day = isoDay(new Date(), school.timezone);
  const session = school.schedule.sessions.find((s) => s.key === "after_school") ?? school.schedule.sessions[0];
  return (
    <section aria-label={t("admin.tab.setup")} data-testid="admin-setup">
      <dl class="tiles">
        <div><dt>{t("admin.setup.pupils")}</dt><dd>{school.pupil_count}</dd></div>
        <div><dt>{t("admin.setup.classes")}</dt><dd>{school.classes.length}</dd></div>
        <div><dt>{t("admin.setup.groups")}</dt><dd>{school.groups.length}</dd></div>
        <div><dt>{t("admin.setup.gates")}</dt><dd>{school.gates.length}</dd></div>
      </dl>
      <p>{t("admin.setup.zone", { tz: zoneName(school.timezone) })}</p>
      <h2>{t("admin.setup.gate_list")}</h2>
      <p data-testid="setup-gates">{school.gates.map((g) => g.name).join("、") || t("admin.setup.none")}</p>
      {session && (
        <>
          <h2>{t("admin.setup.today", { session: session.name, day })}</h2>
          <ul class="rows" data-testid="setup-dismissals">
            {school.schedule.bands.map((b) => (
              <li class="row" key={b.key}>
                <span class="who">{b.name}</span>
                <span>{dismissal(school.schedule, session.key, b.key, day) ?? t("admin.setup.no_service")}</span>
              </li>
            ))}
          </ul>
        </>
      )}
      <SchoolEdit school={school} onChanged={onChanged} />
    </section>
  );
}
