// The money rules and the webhook: the after-school fee (per month or term, reductions for
// priority groups), the staff subsidy and its deductions, and where alerts are sent — the
// webhook's secret is typed in and never shown back.
import { useEffect, useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { t } from "../i18n";
import { done, Field, key, Note, type Outcome, refused, value } from "./forms";

type Fee = Schemas["FeeRuleOut"];
type Subsidy = Schemas["SubsidyRuleOut"];
type Webhook = Schemas["WebhookOut"];
const TAGS = ["留守", "残疾", "随迁", "困难"] as const;
const DEDUCTIONS = ["late", "early_leave", "unattended_room", "handover_violation"] as const;

export function Rules() {
  const [fee, setFee] = useState<Fee | null>(null);
  const [subsidy, setSubsidy] = useState<Subsidy | null>(null);
  const [hook, setHook] = useState<Webhook | null>(null);
  useEffect(() => {
    void api.GET("/v1/school/fee-rule").then(({ data }) => data && setFee(data));
    void api.GET("/v1/school/subsidy-rule").then(({ data }) => data && setSubsidy(data));
    void api.GET("/v1/school/webhook").then(({ data }) => data && setHook(data));
  }, []);
  return (
    <section aria-label={t("admin.tab.rules")} data-testid="admin-rules">
      {fee && <FeeForm rule={fee} onSaved={setFee} />}
      {subsidy && <SubsidyForm rule={subsidy} onSaved={setSubsidy} />}
      {hook && <WebhookForm hook={hook} onSaved={setHook} />}
    </section>
  );
}

const money = (s: string | null | undefined) => s ?? "";

function FeeForm({ rule, onSaved }: { rule: Fee; onSaved: (r: Fee) => void }) {
  const [basis, setBasis] = useState(rule.basis);
  const [amount, setAmount] = useState(rule.amount);
  const [daily, setDaily] = useState(money(rule.daily_rate));
  const [cap, setCap] = useState(money(rule.monthly_cap));
  const [cuts, setCuts] = useState<Record<string, string>>(Object.fromEntries(TAGS.map((x) => [x, String(rule.reductions[x] ?? "")])));
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  async function save(e: Event) {
    e.preventDefault();
    const reductions = Object.fromEntries(Object.entries(cuts).filter(([, v]) => v.trim() !== "").map(([k, v]) => [k, Number(v)]));
    const { data, error } = await api.PUT("/v1/school/fee-rule", { params: { header: key() }, body: {
      basis, amount: amount.trim(), ...(daily.trim() ? { daily_rate: daily.trim() } : {}),
      ...(cap.trim() ? { monthly_cap: cap.trim() } : {}), reductions } });
    if (!data) return setOutcome(refused(error));
    onSaved(data);
    setOutcome(done(t("admin.fee.saved", { version: data.version })));
  }
  return (
    <form class="admin-form" data-testid="fee-form" onSubmit={(e) => void save(e)}>
      <h4>{t("admin.fee.title")}{rule.version ? ` · ${t("admin.rule.version", { version: rule.version })}` : ""}</h4>
      <Field label={t("admin.fee.basis")} name="basis" outcome={outcome}>
        <select value={basis} data-testid="fee-basis" onChange={(e) => setBasis(value(e) as Fee["basis"])}>
          <option value="month">{t("admin.fee.basis.month")}</option>
          <option value="term">{t("admin.fee.basis.term")}</option>
        </select>
      </Field>
      <Field label={t("admin.fee.amount")} name="amount" outcome={outcome}><input inputmode="decimal" value={amount} data-testid="fee-amount" onInput={(e) => setAmount(value(e))} /></Field>
      <Field label={t("admin.fee.daily")} name="daily_rate" outcome={outcome}><input inputmode="decimal" value={daily} data-testid="fee-daily" onInput={(e) => setDaily(value(e))} /></Field>
      <Field label={t("admin.fee.cap")} name="monthly_cap" outcome={outcome}><input inputmode="decimal" value={cap} onInput={(e) => setCap(value(e))} /></Field>
      <p class="wide">{t("admin.fee.reductions")}</p>
      {TAGS.map((tag) => (
        <Field key={tag} label={t("admin.fee.reduction", { tag })} name={`reductions.${tag}`} outcome={outcome}>
          <input type="number" min={0} max={100} value={cuts[tag] ?? ""} data-testid={`fee-cut-${tag}`}
            onInput={(e) => setCuts({ ...cuts, [tag]: value(e) })} />
        </Field>
      ))}
      <button type="submit" class="primary" data-testid="fee-save">{t("admin.save")}</button>
      <div class="wide"><Note outcome={outcome} /></div>
    </form>
  );
}

function SubsidyForm({ rule, onSaved }: { rule: Subsidy; onSaved: (r: Subsidy) => void }) {
  const [perSession, setPerSession] = useState(rule.per_session);
  const [perDuty, setPerDuty] = useState(rule.per_duty_session);
  const [tolerance, setTolerance] = useState(String(rule.late_tolerance_minutes));
  const [cuts, setCuts] = useState(() => Object.fromEntries(DEDUCTIONS.map((d) => [d, {
    each_pct: String(rule.deductions[d]?.each_pct ?? 0), all_at: String(rule.deductions[d]?.all_at ?? "") }])));
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  async function save(e: Event) {
    e.preventDefault();
    const deductions = Object.fromEntries(DEDUCTIONS.map((d) => [d, {
      each_pct: Number(cuts[d]?.each_pct ?? 0), ...(cuts[d]?.all_at ? { all_at: Number(cuts[d]?.all_at) } : {}) }]));
    const { data, error } = await api.PUT("/v1/school/subsidy-rule", { params: { header: key() }, body: {
      per_session: perSession.trim(), per_duty_session: perDuty.trim(), late_tolerance_minutes: Number(tolerance),
      deductions: deductions as Schemas["Deductions"] } });
    if (!data) return setOutcome(refused(error));
    onSaved(data);
    setOutcome(done(t("admin.subsidy.saved", { version: data.version })));
  }
  return (
    <form class="admin-form" data-testid="subsidy-form" onSubmit={(e) => void save(e)}>
      <h4>{t("admin.subsidy.title")}{rule.version ? ` · ${t("admin.rule.version", { version: rule.version })}` : ""}</h4>
      <Field label={t("admin.subsidy.per_session")} name="per_session" outcome={outcome}><input inputmode="decimal" value={perSession} data-testid="subsidy-per-session" onInput={(e) => setPerSession(value(e))} /></Field>
      <Field label={t("admin.subsidy.per_duty")} name="per_duty_session" outcome={outcome}><input inputmode="decimal" value={perDuty} onInput={(e) => setPerDuty(value(e))} /></Field>
      <Field label={t("admin.subsidy.tolerance")} name="late_tolerance_minutes" outcome={outcome}><input type="number" min={0} max={120} value={tolerance} onInput={(e) => setTolerance(value(e))} /></Field>
      {DEDUCTIONS.map((d) => (
        <fieldset class="deduction field" key={d}>
          <legend>{t(`admin.subsidy.deduction.${d}` as "admin.subsidy.deduction.late")}</legend>
          <Field label={t("admin.subsidy.each_pct")} name={`deductions.${d}.each_pct`} outcome={outcome}>
            <input type="number" min={0} max={100} value={cuts[d]?.each_pct ?? ""} data-testid={`subsidy-${d}-each`}
              onInput={(e) => setCuts({ ...cuts, [d]: { each_pct: value(e), all_at: cuts[d]?.all_at ?? "" } })} />
          </Field>
          <Field label={t("admin.subsidy.all_at")} name={`deductions.${d}.all_at`} outcome={outcome}>
            <input type="number" min={1} max={100} value={cuts[d]?.all_at ?? ""}
              onInput={(e) => setCuts({ ...cuts, [d]: { each_pct: cuts[d]?.each_pct ?? "0", all_at: value(e) } })} />
          </Field>
        </fieldset>
      ))}
      <button type="submit" class="primary" data-testid="subsidy-save">{t("admin.save")}</button>
      <div class="wide"><Note outcome={outcome} /></div>
    </form>
  );
}

function WebhookForm({ hook, onSaved }: { hook: Webhook; onSaved: (h: Webhook) => void }) {
  const [url, setUrl] = useState(hook.url ?? "");
  const [secret, setSecret] = useState("");
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  async function save(e: Event) {
    e.preventDefault();
    const { data, error } = await api.PUT("/v1/school/webhook", { params: { header: key() }, body: { url: url.trim(), secret } });
    setSecret(""); // typed once, sent, forgotten
    if (!data) return setOutcome(refused(error));
    onSaved(data);
    setOutcome(done(t("admin.webhook.saved")));
  }
  async function remove() {
    const { data, error } = await api.DELETE("/v1/school/webhook", { params: { header: key() } });
    if (!data) return setOutcome(refused(error));
    onSaved(data);
    setUrl("");
    setOutcome(done(t("admin.webhook.removed")));
  }
  return (
    <form class="admin-form" data-testid="webhook-form" onSubmit={(e) => void save(e)}>
      <h4>{t("admin.webhook.title")}</h4>
      <p class="wide" data-testid="webhook-state">{hook.active
        ? t(hook.secret_set ? "admin.webhook.active_signed" : "admin.webhook.active", { url: hook.url ?? "" })
        : t("admin.webhook.none")}</p>
      <Field label={t("admin.webhook.url")} name="url" outcome={outcome}><input type="url" lang="en" value={url} data-testid="webhook-url" onInput={(e) => setUrl(value(e))} /></Field>
      <Field label={t("admin.webhook.secret")} name="secret" outcome={outcome}>
        <input type="password" autocomplete="new-password" value={secret} data-testid="webhook-secret" onInput={(e) => setSecret(value(e))} />
      </Field>
      <button type="submit" class="primary" disabled={!url.trim() || secret.length === 0} data-testid="webhook-save">{t("admin.save")}</button>
      {hook.active && <button type="button" class="danger" data-testid="webhook-remove" onClick={() => void remove()}>{t("admin.webhook.remove")}</button>}
      <p class="hint wide">{t("admin.webhook.secret_hint")}</p>
      <div class="wide"><Note outcome={outcome} /></div>
    </form>
  );
}
