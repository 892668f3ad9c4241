// The admin's signing keys and checkpoints (/app/#evidence): each public key with the interval it
// signs in, a rotation to a new key from now on, the recent signed checkpoints and the chain's head.
import { useEffect, useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { useSchoolNow } from "../board/live";
import { Shell } from "../board/Shell";
import type { SignedIn } from "../device";
import { t } from "../i18n";
import { Verification } from "./Evidence";

type Key = Schemas["KeyOut"];
type Checkpoints = Schemas["CheckpointsOut"];

function when(at: string, tz: string): string {
  return new Intl.DateTimeFormat("zh-CN", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(new Date(at));
}

const RECENT = 20;

async function recentCheckpoints(): Promise<Checkpoints | null> {
  // Pages run oldest first: walk to the last page, keeping the latest ones.
  let after = 0;
  let last: Checkpoints | null = null;
  let kept: Checkpoints["checkpoints"] = [];
  for (;;) {
    const { data } = await api.GET("/v1/evidence/checkpoints", { params: { query: { after_seq: after, limit: 1000 } } });
    if (!data) return last;
    last = data;
    kept = [...kept, ...data.checkpoints].slice(-RECENT);
    if (data.next_after_seq === null) break;
    after = data.next_after_seq;
  }
  return { ...last, checkpoints: kept.reverse() };
}

export function KeysPanel({ tz }: { tz: string }) {
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [checkpoints, setCheckpoints] = useState<Checkpoints | null>(null);
  const [said, setSaid] = useState<{ ok: boolean; text: string } | null>(null);
  const [confirming, setConfirming] = useState(false);

  async function load() {
    const { data } = await api.GET("/v1/evidence/keys");
    setKeys(data?.keys ?? null);
    setCheckpoints(await recentCheckpoints());
  }
  useEffect(() => {
    void load();
  }, []);

  async function rotate() {
    setConfirming(false);
    const { data, response } = await api.POST("/v1/evidence/keys/rotate");
    if (data) {
      setSaid({ ok: true, text: t("keys.rotated", { key: data.key_id }) });
      await load();
    } else setSaid({ ok: false, text: t("error.server", { status: response.status }) });
  }

  return (
    <section class="evidence" data-testid="keys">
      <div class="panel">
        <h2>{t("keys.title")}</h2>
        {keys === null ? <p class="hint">{t("net.connecting")}</p> : keys.length === 0 ? <p class="hint">{t("keys.none")}</p> : (
          <table class="evidence-table" data-testid="keys-list">
            <thead><tr><th>{t("keys.id")}</th><th>{t("keys.from")}</th><th>{t("keys.until")}</th><th>{t("keys.public")}</th></tr></thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.key_id} data-testid="key-row" data-current={String(k.valid_until === null)}>
                  <td><code>{k.key_id}</code></td><td>{when(k.valid_from, tz)}</td>
                  <td>{k.valid_until ? when(k.valid_until, tz) : t("keys.current")}</td><td><code class="key">{k.public_key}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {!confirming ? (
          <button type="button" class="ghost" data-testid="keys-rotate" onClick={() => setConfirming(true)}>{t("keys.rotate")}</button>
        ) : (
          <div class="row-actions">
            <p>{t("keys.rotate_confirm")}</p>
            <button type="button" class="primary" data-testid="keys-rotate-confirm" onClick={() => void rotate()}>{t("keys.rotate_yes")}</button>
            <button type="button" class="ghost" onClick={() => setConfirming(false)}>{t("keys.cancel")}</button>
          </div>
        )}
        {said && <p class={`result ${said.ok ? "result-ok" : "result-bad"}`} role="status" data-testid="keys-said">{said.text}</p>}
      </div>
      <div class="panel">
        <h2>{t("keys.checkpoints")}</h2>
        {checkpoints && <p data-testid="chain-head">{t("keys.head", { events: checkpoints.chain.events,
          position: String(checkpoints.chain.position ?? "—") })}</p>}
        {checkpoints && checkpoints.checkpoints.length === 0 && <p class="hint">{t("keys.no_checkpoints")}</p>}
        {checkpoints && checkpoints.checkpoints.length > 0 && (
          <table class="evidence-table" data-testid="checkpoints-list">
            <thead><tr><th>{t("keys.seq")}</th><th>{t("keys.position")}</th><th>{t("keys.signed_at")}</th><th>{t("keys.id")}</th><th>{t("keys.link")}</th></tr></thead>
            <tbody>
              {checkpoints.checkpoints.map((c) => (
                <tr key={c.seq} data-testid="checkpoint-row">
                  <td>{c.seq}</td><td>{c.position}</td><td>{when(c.at, tz)}</td><td><code>{c.key_id}</code></td><td><code>{c.link.slice(0, 16)}…</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}

export function KeysScreen({ me, onSignOut }: { me: SignedIn; onSignOut: () => void }) {
  const live = useSchoolNow();
  const tz = live.school?.timezone ?? "Asia/Shanghai";
  return (
    <Shell me={me} title={t("keys.screen")} live={live} onSignOut={onSignOut}>
      <div class="safety-body">
        <KeysPanel tz={tz} />
        <Verification tz={tz} />
      </div>
    </Shell>
  );
}
