// Devices: register a gate tablet, a classroom tablet or a duty board and show its pairing code
// large enough to read across a desk; a new code for a reset tablet; revoke a lost one.
import { useEffect, useState } from "preact/hooks";
import { api, type Problem, problemCode, type Schemas, type School } from "../api/client";
import { known, t } from "../i18n";
import { clock } from "../time";

type Device = Schemas["DeviceOut"];
type WithCode = Schemas["DeviceWithCode"];
type Kind = Device["kind"];
const KINDS: Kind[] = ["gate_tablet", "classroom_tablet", "duty_board"];

export function Devices({ school }: { school: School }) {
  const tz = school.timezone;
  const [devices, setDevices] = useState<Device[]>([]);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<Kind>("gate_tablet");
  const [place, setPlace] = useState("");
  const [shown, setShown] = useState<WithCode | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);

  const places = kind === "gate_tablet" ? school.gates.map((g) => ({ id: g.gate_id, name: g.name }))
    : kind === "classroom_tablet" ? school.groups.map((g) => ({ id: g.group_id, name: g.name })) : [];

  async function load() {
    const { data } = await api.GET("/v1/devices");
    if (data) setDevices(data.devices);
  }
  useEffect(() => {
    void load();
  }, []);
  useEffect(() => setPlace(places[0]?.id ?? ""), [kind]);

  function failed(error: unknown) {
    setError(known("admin.problem", problemCode(error as Problem), "admin.problem.unknown"));
  }

  async function register(e: Event) {
    e.preventDefault();
    setError(null);
    const { data, error } = await api.POST("/v1/devices", {
      body: { name: name.trim(), kind, ...(kind === "duty_board" ? {} : { place_id: place }) },
      params: { header: { "idempotency-key": crypto.randomUUID() } },
    });
    if (!data) return failed(error);
    setShown(data);
    setName("");
    await load();
  }

  async function newCode(d: Device) {
    setError(null);
    const { data, error } = await api.POST("/v1/devices/{device_id}/codes", {
      params: { path: { device_id: d.device_id }, header: { "idempotency-key": crypto.randomUUID() } },
    });
    if (!data) return failed(error);
    setShown(data);
    await load();
  }

  async function revoke(d: Device) {
    if (revoking !== d.device_id) {
      setRevoking(d.device_id); // a second tap revokes: a tablet in use must not go by a slip
      return;
    }
    setRevoking(null);
    const { data, error } = await api.POST("/v1/devices/{device_id}/revoke", {
      params: { path: { device_id: d.device_id }, header: { "idempotency-key": crypto.randomUUID() } },
    });
    if (!data) return failed(error);
    if (shown?.device_id === d.device_id) setShown(null);
    await load();
  }

  return (
    <section aria-label={t("admin.tab.devices")} data-testid="admin-devices">
      {shown && (
        <div class="panel code-shown" role="status" data-testid="pairing-code">
          <p>{t("admin.device.code_for", { name: shown.name })}</p>
          <p class="code" lang="en">{shown.code}</p>
          <p>{t("admin.device.code_until", { time: shown.code_expires_at ? clock(shown.code_expires_at, tz) : "" })}</p>
          <button type="button" class="ghost" onClick={() => setShown(null)}>{t("admin.device.code_done")}</button>
        </div>
      )}
      <form class="panel" onSubmit={(e) => void register(e)} data-testid="device-form">
        <h2>{t("admin.device.new")}</h2>
        <label>{t("admin.device.name")}
          <input value={name} required maxLength={100} data-testid="device-name" placeholder={t("admin.device.name.example")}
            onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>{t("admin.device.kind")}
          <select value={kind} data-testid="device-kind" onChange={(e) => setKind((e.target as HTMLSelectElement).value as Kind)}>
            {KINDS.map((k) => <option value={k} key={k}>{t(`admin.kind.${k}`)}</option>)}
          </select>
        </label>
        {places.length > 0 && (
          <label>{t(kind === "gate_tablet" ? "admin.device.gate" : "admin.device.group")}
            <select value={place} data-testid="device-place" onChange={(e) => setPlace((e.target as HTMLSelectElement).value)}>
              {places.map((p) => <option value={p.id} key={p.id}>{p.name}</option>)}
            </select>
          </label>
        )}
        <button type="submit" class="primary big" disabled={!name.trim()} data-testid="device-register">{t("admin.device.register")}</button>
        {error && <p class="error" role="alert" data-testid="admin-error">{error}</p>}
      </form>
      <h2>{t("admin.device.list", { n: devices.length })}</h2>
      <ul class="rows">
        {devices.map((d) => (
          <li key={d.device_id} class={`row ${d.status}`} data-testid="device">
            <div>
              <p class="who">{d.name}</p>
              <p class="hint">{t(`admin.kind.${d.kind}`)}{d.place_label ? ` · ${d.place_label}` : ""}</p>
            </div>
            <div>
              <p data-testid="device-status">{t(`admin.status.${d.status}`)}</p>
              <p class="hint">
                {d.paired_at ? t("admin.device.paired_at", { time: clock(d.paired_at, tz) }) : ""}
                {d.last_seen ? ` · ${t("admin.device.seen_at", { time: clock(d.last_seen, tz) })}` : ""}
              </p>
            </div>
            {d.status !== "revoked" && (
              <div class="row-actions">
                <button type="button" class="ghost" data-testid="device-code" onClick={() => void newCode(d)}>{t("admin.device.new_code")}</button>
                <button type="button" class="danger" data-testid="device-revoke" onClick={() => void revoke(d)}>
                  {revoking === d.device_id ? t("admin.device.revoke.confirm") : t("admin.device.revoke")}
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
