// The inspector's downloads: a group's care log (看护日志) for today and the month's publication
// (每月公示). They are fetched with the device's token and saved as the file the service names.
import { useState } from "preact/hooks";
import type { School } from "../api/client";
import { device } from "../device";
import { t } from "../i18n";
import { isoDay } from "../time";

function filename(response: Response, fallback: string): string {
  const header = response.headers.get("Content-Disposition") ?? "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star?.[1]) return decodeURIComponent(star[1]);
  return /filename="?([^";]+)"?/i.exec(header)?.[1] ?? fallback;
}

/** Fetch a file with the device's token and save it under the name the service gives it; the
 * error to show, or null. */
export async function saveFile(path: string, fallback: string): Promise<string | null> {
  try {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${device.token() ?? ""}`, "X-Device-Id": device.id() } });
    if (!response.ok) return t("error.server", { status: response.status });
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = filename(response, fallback);
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return null;
  } catch {
    return t("signin.offline");
  }
}

export function Exports({ school }: { school: School }) {
  const [group, setGroup] = useState(school.groups[0]?.group_id ?? "");
  const [error, setError] = useState<string | null>(null);
  const today = isoDay(new Date(), school.timezone);
  const month = today.slice(0, 7);

  async function download(path: string, fallback: string) {
    setError(null);
    setError(await saveFile(path, fallback));
  }

  const careLog = (format: "xlsx" | "csv") =>
    `/v1/care-log/export?group_id=${encodeURIComponent(group)}&day=${today}&format=${format}`;
  return (
    <section class="exports" data-testid="exports">
      <div class="panel">
        <h2>{t("export.care_log")}</h2>
        <label>{t("export.group")}
          <select value={group} data-testid="export-group" onChange={(e) => setGroup((e.target as HTMLSelectElement).value)}>
            {school.groups.map((g) => <option key={g.group_id} value={g.group_id}>{g.name}</option>)}
          </select>
        </label>
        <div class="row-actions">
          <button type="button" class="ghost" data-testid="export-care-xlsx" onClick={() => void download(careLog("xlsx"), `care-log-${today}.xlsx`)}>
            {t("export.xlsx")}
          </button>
          <button type="button" class="ghost" data-testid="export-care-csv" onClick={() => void download(careLog("csv"), `care-log-${today}.csv`)}>
            {t("export.csv")}
          </button>
        </div>
      </div>
      <div class="panel">
        <h2>{t("export.publication", { month })}</h2>
        <div class="row-actions">
          <button type="button" class="ghost" data-testid="export-publication"
            onClick={() => void download(`/v1/statements/publication?month=${month}`, `publication-${month}.xlsx`)}>
            {t("export.xlsx")}
          </button>
        </div>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
