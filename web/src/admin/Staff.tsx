// Staff: who works here and in which roles; each one's tokens (revoke a lost phone's, or all);
// a guard's PIN for the shared gate tablet, set here and read out to them once.
import { useState } from "preact/hooks";
import { api, type Problem, problemCode, type Schemas, type School } from "../api/client";
import { known, t } from "../i18n";
import { clock } from "../time";

type Member = School["staff"][number];
type Token = Schemas["TokenOut"];
type RoleName = Schemas["StaffRequest"]["roles"][number];
const ROLES: RoleName[] = ["teacher", "guard", "duty_leader", "safety_officer", "inspector", "admin"];

function RolePicks({ roles, onChange, testid }: { roles: RoleName[]; onChange: (r: RoleName[]) => void; testid: string }) {
  return (
    <fieldset class="roles" data-testid={testid}>
      <legend>{t("admin.staff.roles")}</legend>
      {ROLES.map((r) => (
        <label key={r} class="check">
          <input type="checkbox" checked={roles.includes(r)} data-testid={`${testid}-${r}`}
            onChange={(e) => onChange((e.target as HTMLInputElement).checked ? [...roles, r] : roles.filter((x) => x !== r))} />
          {t(`role.${r}` as "role.admin")}
        </label>
      ))}
    </fieldset>
  );
}

/** A new member of staff: name, roles and phone; their first token is shown here once. */
function HireForm({ onHired }: { onHired: () => void }) {
  const [name, setName] = useState("");
  const [phone, setPhone] = useState("");
  const [roles, setRoles] = useState<RoleName[]>(["teacher"]);
  const [issued, setIssued] = useState<{ name: string; token: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function hire(e: Event) {
    e.preventDefault();
    setError(null);
    const { data, error: problem } = await api.POST("/v1/staff", {
      params: { header: { "idempotency-key": crypto.randomUUID() } },
      body: { name: name.trim(), roles, phone: phone.trim() || null },
    });
    if (!data) {
      setError(known("admin.problem", problemCode(problem as Problem), "admin.problem.unknown"));
      return;
    }
    setIssued({ name: data.name, token: data.token ?? "" });
    setName("");
    setPhone("");
    onHired();
  }
  return (
    <form class="panel hire" data-testid="staff-hire" onSubmit={(e) => void hire(e)}>
      <h3>{t("admin.staff.hire")}</h3>
      <label>{t("admin.staff.name")}
        <input value={name} maxLength={40} data-testid="hire-name" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      <label>{t("admin.staff.phone")}
        <input value={phone} maxLength={32} inputmode="tel" data-testid="hire-phone" onInput={(e) => setPhone((e.target as HTMLInputElement).value)} />
      </label>
      <RolePicks roles={roles} onChange={setRoles} testid="hire-roles" />
      <button type="submit" class="primary" disabled={!name.trim() || roles.length === 0} data-testid="hire-submit">{t("admin.staff.hire_submit")}</button>
      {error && <p class="error" role="alert">{error}</p>}
      {issued && (
        <div class="issued" role="status" data-testid="hire-token">
          <p>{t("admin.token.issued_once", { name: issued.name })}</p>
          <p class="token-text" lang="en">{issued.token}</p>
          <button type="button" class="ghost" onClick={() => setIssued(null)}>{t("admin.device.code_done")}</button>
        </div>
      )}
    </form>
  );
}

export function StaffList({ school, onChanged }: { school: School; onChanged: () => void }) {
  const staff = [...school.staff].filter((s) => !s.staff_id.startsWith("device-"))
    .sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
  return (
    <section aria-label={t("admin.tab.staff")} data-testid="admin-staff">
      <h2>{t("admin.staff.count", { n: staff.length })}</h2>
      <HireForm onHired={onChanged} />
      <ul class="rows">
        {staff.map((m) => <StaffRow key={m.staff_id} member={m} tz={school.timezone} onChanged={onChanged} />)}
      </ul>
    </section>
  );
}

function StaffRow({ member, tz, onChanged }: { member: Member; tz: string; onChanged: () => void }) {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [issued, setIssued] = useState<string | null>(null); // a new token, shown once
  const [pin, setPin] = useState("");
  const [roles, setRoles] = useState<RoleName[] | null>(null); // roles being changed
  async function saveRoles() {
    if (!roles) return;
    const { data, error } = await api.PUT("/v1/staff/{staff_id}/roles", {
      params: { path: { staff_id: member.staff_id }, header: { "idempotency-key": crypto.randomUUID() } }, body: { roles } });
    if (!data) return failed(error);
    setRoles(null);
    setNote({ ok: true, text: t("admin.staff.roles_saved", { name: member.name }) });
    onChanged();
  }
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const key = () => ({ "idempotency-key": crypto.randomUUID() });
  const path = { staff_id: member.staff_id };

  function failed(error: unknown) {
    setNote({ ok: false, text: known("admin.problem", problemCode(error as Problem), "admin.problem.unknown") });
  }
  async function loadTokens(after?: Response) {
    const position = Number(after?.headers.get("X-Log-Position") ?? "") || undefined; // read what was just done
    const { data, error } = await api.GET("/v1/staff/{staff_id}/tokens", {
      params: { path, ...(position ? { query: { min_position: position } } : {}) },
    });
    if (!data) return failed(error);
    setTokens(data.tokens);
  }
  async function revoke(token: Token) {
    const { data, error, response } = await api.POST("/v1/staff/{staff_id}/tokens/{token_id}/revoke", {
      params: { path: { ...path, token_id: token.token_id }, header: key() },
    });
    if (!data) return failed(error);
    setNote({ ok: true, text: t("admin.token.revoked") });
    await loadTokens(response);
  }
  async function revokeAll() {
    const { data, error, response } = await api.POST("/v1/staff/{staff_id}/tokens/revoke", { params: { path, header: key() } });
    if (!data) return failed(error);
    setNote({ ok: true, text: t("admin.token.revoked_all", { n: data.revoked }) });
    await loadTokens(response);
  }
  async function issue() {
    const { data, error, response } = await api.POST("/v1/staff/{staff_id}/tokens", { params: { path, header: key() } });
    if (!data) return failed(error);
    setIssued(data.token);
    await loadTokens(response);
  }
  async function setGuardPin(e: Event) {
    e.preventDefault();
    const { data, error } = await api.PUT("/v1/staff/{staff_id}/pin", { body: { pin }, params: { path, header: key() } });
    setPin("");
    if (!data) return failed(error);
    setNote({ ok: true, text: t("admin.pin.set", { name: member.name }) });
    onChanged();
  }

  const guard = member.roles.includes("guard");
  return (
    <li class="row" data-testid="staff-member">
      <div>
        <p class="who">{member.name}</p>
        <p class="hint">{member.roles.map((r) => t(`role.${r}` as "role.admin")).join("、")}</p>
      </div>
      <div class="row-actions">
        <button type="button" class="ghost" data-testid="staff-tokens" onClick={() => void loadTokens()}>{t("admin.token.show")}</button>
        <button type="button" class="ghost" data-testid="staff-roles-edit"
          onClick={() => setRoles(roles ? null : (member.roles as RoleName[]))}>{t("admin.staff.roles_edit")}</button>
      </div>
      {roles && (
        <div class="roles-edit">
          <RolePicks roles={roles} onChange={setRoles} testid="staff-roles" />
          <button type="button" class="primary" disabled={roles.length === 0} data-testid="staff-roles-save"
            onClick={() => void saveRoles()}>{t("admin.staff.roles_save")}</button>
        </div>
      )}
      {guard && (
        <form class="pin-form" onSubmit={(e) => void setGuardPin(e)}>
          <label>{t("admin.pin.label")}
            <input type="password" inputmode="numeric" autocomplete="new-password" value={pin} maxLength={8} data-testid="staff-pin"
              onInput={(e) => setPin((e.target as HTMLInputElement).value.replace(/[^0-9]/g, ""))} />
          </label>
          <button type="submit" class="primary" disabled={pin.length < 4} data-testid="staff-pin-set">{t("admin.pin.submit")}</button>
        </form>
      )}
      {note && <p class={note.ok ? "ok-note" : "error"} role="status">{note.text}</p>}
      {issued && (
        <div class="issued" role="status" data-testid="token-issued">
          <p>{t("admin.token.issued_once", { name: member.name })}</p>
          <p class="token-text" lang="en">{issued}</p>
          <button type="button" class="ghost" onClick={() => setIssued(null)}>{t("admin.device.code_done")}</button>
        </div>
      )}
      {tokens && (
        <div class="row-actions token-actions">
          <button type="button" class="primary" data-testid="token-issue" onClick={() => void issue()}>{t("admin.token.issue")}</button>
          {tokens.some((x) => x.status === "active") && (
            <button type="button" class="danger" data-testid="token-revoke-all" onClick={() => void revokeAll()}>{t("admin.token.revoke_all")}</button>
          )}
        </div>
      )}
      {tokens && (
        <ul class="tokens" data-testid="token-list">
          {tokens.length === 0 && <li class="hint">{t("admin.token.none")}</li>}
          {tokens.map((tok) => (
            <li key={tok.token_id} data-testid="token">
              <span>{tok.label ?? t("admin.token.unlabelled")}</span>
              <span class="hint">{tok.issued_at ? t("admin.token.issued", { time: clock(tok.issued_at, tz) }) : ""}</span>
              <span>{t(`admin.token.status.${tok.status}` as "admin.token.status.active")}</span>
              {tok.status === "active" && (
                <button type="button" class="danger" data-testid="token-revoke" onClick={() => void revoke(tok)}>{t("admin.token.revoke")}</button>
              )}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
