// Staff: who works here and in which roles; each one's tokens (revoke a lost phone's, or all);
// a guard's PIN for the shared gate tablet, set here and read out to them once.
import { useState } from "preact/hooks";
import { api, type Problem, problemCode, type Schemas, type School } from "../api/client";
import { known, t } from "../i18n";
import { clock } from "../time";

type Member = School["staff"][number];
type Token = Schemas["TokenOut"];

export function StaffList({ school, onChanged }: { school: School; onChanged: () => void }) {
  const staff = [...school.staff].filter((s) => !s.staff_id.startsWith("device-"))
    .sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
  return (
    <section aria-label={t("admin.tab.staff")} data-testid="admin-staff">
      <h2>{t("admin.staff.count", { n: staff.length })}</h2>
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
      </div>
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
