"""Write the service's OpenAPI document to web/openapi.json (the screens' typed client is made from it).

Usage: python scripts/dump-openapi.py [path]   (default: web/openapi.json beside this script's repo)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from service.api.app import create_app
from service.settings import Settings


def main() -> int:
    default = Path(__file__).resolve().parent.parent / "web" / "openapi.json"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    schema = create_app(Settings(store="memory")).openapi()
    text = json.dumps(schema, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
