// The screens' words: Simplified Chinese by default, English on the switch. Every string shown
// comes from these catalogues; `en` must have exactly the keys of `zh` (checked by the compiler).
import { signal } from "./signal";
import { en } from "./en";
import { zh, type MessageKey } from "./zh";

export type Lang = "zh" | "en";
export type { MessageKey };

const catalogues: Record<Lang, Record<MessageKey, string>> = { zh, en };

export const lang = signal<Lang>("zh");

/** The message in the current language, with {name} placeholders filled in. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogues[lang.value][key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

/** A code from the API (a refusal reason, an identity check, ...) in words, or the code's fallback. */
export function known(prefix: string, code: string, fallback: MessageKey): string {
  const key = `${prefix}.${code}` as MessageKey;
  return key in zh ? t(key) : t(fallback);
}
