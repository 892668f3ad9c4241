import { device } from "./device";
import { lang, t } from "./i18n";
import { useSignal } from "./hooks";

export function LangSwitch() {
  const current = useSignal(lang);
  const next = current === "zh" ? "en" : "zh";
  return (
    <button class="ghost" type="button" lang={next === "zh" ? "zh-CN" : "en"} data-testid="lang"
      onClick={() => {
        lang.value = next;
        device.setLang(next);
        document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
      }}>
      {t("lang.switch")}
    </button>
  );
}
