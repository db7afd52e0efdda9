"""Cold start: what importing a function and creating its DynamoDB client costs in a fresh process.

Each measurement is a new interpreter that does what Lambda's INIT phase does for the function
(code directory and layer on sys.path, import the handler's module) and then creates what the
first request needs without calling AWS (the store's boto3 client). The baseline interpreter
only does ``import boto3; boto3.client("dynamodb")``. Baseline and functions run interleaved,
in a shuffled order each round, so that noise falls on all of them alike.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import FAKE_AWS_ENV, http_functions, median, ratio, table, verdict
from local.gateway import LAYER_PATH
from local.template import ROOT

TARGET_RATIO = 1.5
BASELINE = "baseline: boto3.client"
# Modules whose presence after INIT tells what could be made lazy.
WATCHED = (
    "boto3",
    "botocore",
    "s3transfer",
    "awscrt",
    "urllib3",
    "jmespath",
    "dateutil",
    "pydantic",
    "pydantic_core",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.metrics",
    "aws_xray_sdk",
    "asyncio",
    "email",
    "http",
    "sessions",
)
# In the .venv (aws-sam-cli brings it) but not among the layer's dependencies: hidden by default.
NOT_DEPLOYED = ("awscrt",)

# Runs in the fresh interpreter: argv = kind, code dir, layer dir, module, attribute, watched, hidden.
CHILD = """\
import sys, time
kind, code_dir, layer_dir, module_name, attribute, watched, hidden = sys.argv[1:8]
for name in filter(None, hidden.split(",")):
    sys.modules[name] = None
start = time.perf_counter()
if kind == "baseline":
    import boto3
    imported = time.perf_counter()
    boto3.client("dynamodb")
else:
    sys.path[:0] = [code_dir, layer_dir]
    __import__(module_name)  # what importlib.import_module does, but seen by -X importtime
    handler = getattr(sys.modules[module_name], attribute)
    imported = time.perf_counter()
    from sessions import store
    store.dynamodb_client()
ready = time.perf_counter()
import json
print(json.dumps({
    "import_ms": (imported - start) * 1000,
    "client_ms": (ready - imported) * 1000,
    "total_ms": (ready - start) * 1000,
    "loaded": [name for name in watched.split(",") if sys.modules.get(name) is not None],
    "module_count": sum(module is not None for module in sys.modules.values()),
}))
"""


@dataclass
class ImportProfile:
    """What -X importtime says about one child: per-module self time, the entry module's direct imports."""

    self_ms: dict[str, float] = field(default_factory=dict)
    entry_body_ms: float = 0.0  # the entry module's own code (for app.py: create_app and the routes)
    entry_imports_ms: dict[str, float] = field(default_factory=dict)  # cumulative, direct imports only

    def package_ms(self, package: str) -> float:
        """Self time summed over a package's modules: the cost of its own code, whoever imported it."""
        prefix = package + "."
        return sum(ms for name, ms in self.self_ms.items() if name == package or name.startswith(prefix))


@dataclass
class Subject:
    """One kind of fresh process: the baseline or a function's INIT."""

    name: str
    entry: str  # the module the child imports first
    argv: list[str]
    env: dict[str, str]
    runs: list[dict[str, Any]] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    profiles: list[ImportProfile] = field(default_factory=list)

    def samples(self, key: str) -> list[float]:
        return [float(run[key]) for run in self.runs]

    @property
    def loaded(self) -> list[str]:
        return list(self.runs[-1]["loaded"])

    def package_ms(self, package: str) -> float:
        return median([profile.package_ms(package) for profile in self.profiles])

    def entry_body_ms(self) -> float:
        return median([profile.entry_body_ms for profile in self.profiles])

    def entry_imports_ms(self) -> dict[str, float]:
        names = {name for profile in self.profiles for name in profile.entry_imports_ms}
        return {
            name: median([profile.entry_imports_ms.get(name, 0.0) for profile in self.profiles]) for name in names
        }


def _lambda_env(extra: dict[str, str]) -> dict[str, str]:
    """A Lambda-like environment: fake credentials, no shared config files, nothing inherited but PATH."""
    return {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **FAKE_AWS_ENV, **extra}


def subjects(hidden: tuple[str, ...]) -> list[Subject]:
    """The baseline first, then every function with an HTTP route."""
    hide = ",".join(hidden)
    watched = ",".join(WATCHED)
    found = [Subject(BASELINE, "boto3", ["baseline", "", "", "", "", watched, hide], _lambda_env({}))]
    for spec in http_functions():
        module, _, attribute = spec.handler.rpartition(".")
        env = _lambda_env(
            {
                **spec.environment,
                "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            }
        )
        argv = ["function", str(spec.code_uri), str(LAYER_PATH), module, attribute, watched, hide]
        found.append(Subject(spec.logical_id, module, argv, env))
    return found


def _spawn(subject: Subject, flags: list[str]) -> subprocess.CompletedProcess[str]:
    # -I: no user site, no PYTHON* variables; -B: our sources compile at every start, as from
    # Lambda's read-only code directories (site-packages keep their installed .pyc)
    command = [sys.executable, "-I", "-B", *flags, "-c", CHILD, *subject.argv]
    result = subprocess.run(command, env=subject.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{subject.name}: child failed\n{result.stderr}")
    return result


def measure_once(subject: Subject) -> None:
    started = time.perf_counter()
    result = _spawn(subject, [])
    subject.wall_ms.append((time.perf_counter() - started) * 1000)
    subject.runs.append(json.loads(result.stdout.strip().splitlines()[-1]))


def parse_importtime(stderr: str, entry: str) -> ImportProfile:
    """Read -X importtime lines (children are printed before their parent, indented 2 per level)."""
    profile = ImportProfile()
    depth_one: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, raw_name = line.removeprefix("import time:").split("|", 2)
        name = raw_name.strip()
        depth = (len(raw_name) - len(raw_name.lstrip()) - 1) // 2
        profile.self_ms.setdefault(name, int(self_us) / 1000)
        if depth == 1:
            depth_one[name] = int(cumulative_us) / 1000
        elif depth == 0:
            if name == entry:
                profile.entry_body_ms = int(self_us) / 1000
                profile.entry_imports_ms = dict(depth_one)
            depth_one = {}
    return profile


def profile_imports(subject: Subject) -> None:
    subject.profiles.append(parse_importtime(_spawn(subject, ["-X", "importtime"]).stderr, subject.entry))


def compile_ms(paths: list[Path], repeat: int = 5) -> float:
    """Median time to compile these sources: paid at every cold start when no .pyc ships."""
    sources = [(path.read_text(encoding="utf-8"), str(path)) for path in paths]
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        for source, name in sources:
            compile(source, name, "exec")
        timings.append((time.perf_counter() - started) * 1000)
    return median(timings)


def run(repeat: int, *, profile_runs: int = 3, with_crt: bool = False, seed: int = 1) -> dict[str, Any]:
    """Measure every subject `repeat` times, interleaved; print the tables; return the figures."""
    hidden = () if with_crt else NOT_DEPLOYED
    everyone = subjects(hidden)
    for subject in everyone:  # warm-up: fill the OS file cache, discarded
        _spawn(subject, [])
    shuffler = random.Random(seed)
    for _ in range(repeat):
        order = list(everyone)
        shuffler.shuffle(order)
        for subject in order:
            measure_once(subject)
    for _ in range(profile_runs):
        for subject in everyone:
            profile_imports(subject)

    baseline = everyone[0]
    base_total, base_wall = median(baseline.samples("total_ms")), median(baseline.wall_ms)
    figures: dict[str, Any] = {
        "repeat": repeat,
        "profile_runs": profile_runs,
        "hidden_modules": list(hidden),
        "target_ratio": TARGET_RATIO,
        "subjects": {},
        "compile_ms": {
            "sessions_package": compile_ms(sorted((LAYER_PATH / "sessions").glob("*.py"))),
            **{spec.logical_id: compile_ms([spec.code_uri / "app.py"]) for spec in http_functions()},
        },
    }
    for subject in everyone:
        total, wall = median(subject.samples("total_ms")), median(subject.wall_ms)
        entry: dict[str, Any] = {
            "import_ms": median(subject.samples("import_ms")),
            "client_ms": median(subject.samples("client_ms")),
            "total_ms": total,
            "ratio": ratio(total, base_total),
            "wall_ms": wall,
            "wall_ratio": ratio(wall, base_wall),
            "module_count": subject.runs[-1]["module_count"],
            "loaded": subject.loaded,
            "package_self_ms": {name: subject.package_ms(name) for name in WATCHED if name in subject.loaded},
            "entry_module": subject.entry,
            "entry_body_ms": subject.entry_body_ms(),
            "entry_direct_imports_ms": subject.entry_imports_ms(),
            "samples_total_ms": subject.samples("total_ms"),
            "samples_wall_ms": subject.wall_ms,
        }
        if subject is not baseline:
            entry["meets_target"] = entry["ratio"] <= TARGET_RATIO
        figures["subjects"][subject.name] = entry
    _print(everyone, figures)
    return figures


def _print(everyone: list[Subject], figures: dict[str, Any]) -> None:
    results = figures["subjects"]
    rows = [
        [
            subject.name,
            results[subject.name]["import_ms"],
            results[subject.name]["client_ms"],
            results[subject.name]["total_ms"],
            results[subject.name]["ratio"],
            results[subject.name]["wall_ms"],
            results[subject.name]["wall_ratio"],
            results[subject.name]["module_count"],
            verdict(results[subject.name]["meets_target"]) if "meets_target" in results[subject.name] else "",
        ]
        for subject in everyone
    ]
    headers = ["process", "import ms", "client ms", "total ms", "× base", "wall ms", "wall × base", "modules"]
    title = f"Cold start: import + boto3 client in a fresh interpreter (median of {figures['repeat']}, interleaved)"
    print(table([*headers, f"≤{TARGET_RATIO}×"], rows, title=title))
    print("  total = import + client, timed inside the child; wall = the whole child, interpreter start included.")
    if figures["hidden_modules"]:
        print(f"  hidden in the children (not among the layer's dependencies): {', '.join(figures['hidden_modules'])}")
    print()

    names = [subject.name for subject in everyone]
    heavy_rows = [
        [module, *(f"{subject.package_ms(module):.1f}" if module in subject.loaded else "no" for subject in everyone)]
        for module in WATCHED
    ]
    title = (
        f"Modules loaded after INIT: ms of their own code (self time summed over the package, "
        f"median of {figures['profile_runs']} -X importtime runs; 'no' = not loaded)"
    )
    print(table(["package", *names], heavy_rows, title=title))
    print()

    functions = everyone[1:]
    largest: dict[str, float] = {}
    for subject in functions:
        for name, ms in subject.entry_imports_ms().items():
            largest[name] = max(largest.get(name, 0.0), ms)
    top = sorted(largest, key=lambda name: -largest[name])[:10]
    rows = [["module body (create_app, routes)", *(subject.entry_body_ms() for subject in functions)]]
    rows += [[f"import {name}", *(subject.entry_imports_ms().get(name, 0.0) for subject in functions)] for name in top]
    rows.append(["compile the handler's source", *(figures["compile_ms"][subject.name] for subject in functions)])
    title = "Where the handler module's import goes (cumulative ms; a module is paid by its first importer)"
    print(table(["handler module", *(subject.name for subject in functions)], rows, title=title))
    print(f"  compiling the sessions package from source (no .pyc in the layer): {figures['compile_ms']['sessions_package']:.1f} ms")
