"""What shipping compiled modules in the layer saves at a cold start: `python -m bench.layer_bytecode`.

`python -m bench cold` imports Powertools and pydantic from the development virtualenv, whose
modules pip compiled at install. On Lambda they come from the layer under /opt, where Python
cannot write __pycache__: a layer built without .pyc (what SAM's python3.13 builder makes)
compiles every module it imports at every cold start. This builds the layer twice for this
machine, as layers/common/Makefile builds it for Lambda (requirements with pip, no bytecode, and
the sessions package), compiles one copy as that Makefile does, and times GetSession's INIT
(import and DynamoDB client, fresh interpreters, interleaved with the boto3 baseline) on each.
Needs the package index (pip install of layers/common/requirements.txt).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.cold_start import NOT_DEPLOYED
from local.api.gateway import LAYER_PATH
from local.aws.fake_env import FAKE_AWS_ENV
from local.stack.template import ROOT, function_specs, load_template, local_resolver

CHILD = """\
import sys, time
layer, hidden = sys.argv[1], sys.argv[3]
for name in filter(None, hidden.split(",")):
    sys.modules[name] = None  # in the virtualenv, not on Lambda (bench.cold_start.NOT_DEPLOYED)
started = time.perf_counter()
if layer:
    sys.path[:0] = [sys.argv[2], layer]
    import app
    from sessions import store
    store.dynamodb_client()
else:
    import boto3
    boto3.client("dynamodb")
print((time.perf_counter() - started) * 1000)
"""
FUNCTION_DIR = ROOT / "functions" / "get_session"


def build_layer(into: Path, *, compiled: bool) -> Path:
    python = [sys.executable, "-m"]
    quiet = ["--quiet", "--disable-pip-version-check"]
    requirements = str(LAYER_PATH / "requirements.txt")
    subprocess.run(
        [*python, "pip", "install", *quiet, "--no-compile", "--target", str(into), "-r", requirements], check=True
    )
    shutil.copytree(LAYER_PATH / "sessions", into / "sessions", ignore=shutil.ignore_patterns("__pycache__"))
    if compiled:  # as layers/common/Makefile does
        flags = ["-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        subprocess.run([*python, "compileall", *flags, str(into)], check=True, stdout=subprocess.DEVNULL)
    return into


def init_ms(layer: str, environment: dict[str, str]) -> float:
    # -B: nothing is written, as under Lambda's read-only /opt
    command = [sys.executable, "-I", "-B", "-c", CHILD, layer, str(FUNCTION_DIR), ",".join(NOT_DEPLOYED)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    template = load_template()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        **FAKE_AWS_ENV,
        # its variables (TABLE_NAME …): the function reads its settings at INIT
        **function_specs(template, local_resolver({}, template))["GetSessionFunction"].environment,
        "AWS_LAMBDA_FUNCTION_NAME": "GetSessionFunction",
    }
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as scratch:
        subjects = {
            "baseline: boto3.client": "",
            "GetSession, layer without .pyc (SAM's python builder)": str(
                build_layer(Path(scratch) / "plain", compiled=False)
            ),
            "GetSession, layer with .pyc (layers/common/Makefile)": str(
                build_layer(Path(scratch) / "compiled", compiled=True)
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in subjects}
        for layer in subjects.values():
            init_ms(layer, environment)  # warm the file cache
        for _ in range(repeat):
            for name, layer in subjects.items():
                samples[name].append(init_ms(layer, environment))
    base = statistics.median(samples["baseline: boto3.client"])
    print(f"GetSession INIT (import + DynamoDB client), median of {repeat}, interleaved")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:55s} {median:7.1f} ms  {median / base:5.2f}× baseline")


if __name__ == "__main__":
    main()
