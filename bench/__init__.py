"""Benchmarks of the session service: cold-start imports, warm per-request overhead, DynamoDB round trips.

Run from the repository root: ``python -m bench [SECTION|all] [--quick] [--smoke] [--json PATH]
[--write-docs [PATH]]`` (sections: bench/__main__.py SECTIONS; --write-docs: docs/benchmarks.md's figures).
Every figure is read against a baseline measured side by side in the same run, because the
machine is noisy: compare ratios, not absolute numbers, across runs.
"""

import sys
from pathlib import Path

# `python -m bench SECTION` runs as written, with no PYTHONPATH: the shared layer (`sessions`, as
# Lambda puts it on the path at /opt/python) and this repository's client are imported from here.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (_ROOT / "client" / "src", _ROOT / "layers" / "common"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
