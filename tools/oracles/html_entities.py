"""HTML named character references for the CLIP text cleaner in src/text/tokenizer.ts.

Writes assets/html/html5_entities.json with two tables:
  html5           Python's html.entities.html5 (what html.unescape uses; names with and without ';').
  ftfy_uppercase  the extra all-caps names that ftfy's unescape_html also decodes ('&EACUTE;' -> 'É'),
                  derived with ftfy 6.3's rule (ftfy/chardata.py, _build_html_entities; Apache-2.0).

    /usr/bin/python3 tools/oracles/html_entities.py
"""
import html
import json
import sys
from html.entities import html5
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "assets" / "html" / "html5_entities.json"


def ftfy_uppercase_entities() -> dict:
    """ftfy decodes '&NAME;' for lower-case names whose upper-cased form html.unescape leaves alone."""
    extra = {}
    for name, char in html5.items():
        if name.endswith(";") and name == name.lower():
            entity_upper = "&" + name.upper()
            if html.unescape(entity_upper) == entity_upper:
                extra[entity_upper] = char.upper()
    return extra


def main() -> None:
    table = {
        "source": f"Python {sys.version.split()[0]} html.entities.html5; ftfy 6.3 upper-case rule",
        "html5": html5,
        "ftfy_uppercase": ftfy_uppercase_entities(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(table['html5'])} html5 names, {len(table['ftfy_uppercase'])} upper-case)")


if __name__ == "__main__":
    main()
