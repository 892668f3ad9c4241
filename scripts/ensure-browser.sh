#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a browser Playwright downloads) and need CJK
# fonts to draw Chinese; the printable PDFs embed fonts-wqy-zenhei. Installs `chromium`,
# `fonts-noto-cjk` and `fonts-wqy-zenhei` with apt when missing (as root);
# fails loudly when they are missing and cannot be installed.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed" || missing+=(fonts-noto-cjk)
# The printable PDFs (service/reports/pdf.py) embed a CJK font with TrueType outlines.
dpkg-query -W -f='${Status}' fonts-wqy-zenhei 2>/dev/null | grep -q "install ok installed" || missing+=(fonts-wqy-zenhei)

if ((${#missing[@]} == 0)); then
    echo "chromium, fonts-noto-cjk and fonts-wqy-zenhei are present"
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-browser: missing ${missing[*]}; install them as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
[[ -x /usr/bin/chromium ]] || { echo "ensure-browser: /usr/bin/chromium is still missing" >&2; exit 1; }
