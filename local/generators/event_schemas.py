"""JSON Schemas of the lifecycle events, generated from the models that produce them.

python -m local.generators.event_schemas --write   regenerate schemas/*.json (committed)
python -m local.generators.event_schemas --check   exit 1 when a committed schema is stale
"""

from __future__ import annotations

import argparse
import json
import sys

from local.api.gateway import add_layer_to_path
from local.stack.template import ROOT

SCHEMAS_DIR = ROOT / "schemas"


def generate_schemas() -> dict[str, str]:
    """File name → schema text, one per detail-type."""
    add_layer_to_path()
    from sessions.domain.lifecycle_events import DETAIL_TYPES

    schemas = {}
    for detail_type, model in DETAIL_TYPES.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": detail_type,
            "description": "The `detail` of EventBridge events with this detail-type.",
            **model.model_json_schema(),
        }
        schemas[f"{detail_type}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return schemas


def stale_files() -> list[str]:
    wanted = generate_schemas()
    present = {path.name for path in SCHEMAS_DIR.glob("*.json")}
    changed = [
        name
        for name, text in wanted.items()
        if not (SCHEMAS_DIR / name).exists() or (SCHEMAS_DIR / name).read_text(encoding="utf-8") != text
    ]
    return sorted(changed + sorted(present - set(wanted)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.write:
        SCHEMAS_DIR.mkdir(exist_ok=True)
        for old in SCHEMAS_DIR.glob("*.json"):
            old.unlink()
        for name, text in generate_schemas().items():
            (SCHEMAS_DIR / name).write_text(text, encoding="utf-8")
        return 0
    stale = stale_files()
    if stale:
        print(f"stale event schemas: {', '.join(stale)}; run `make openapi`", file=sys.stderr)
    return int(bool(stale))


if __name__ == "__main__":
    raise SystemExit(main())
