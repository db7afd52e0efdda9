"""Cold start: what importing a function and creating its DynamoDB client costs in a fresh process.

Each measurement is a new interpreter that does what Lambda's INIT phase does for the function
(code directory and layer on sys.path, import the handler's module) and then creates what the
first request needs without calling AWS (the store's boto3 client). The baseline interpreter
only does ``import boto3; boto3.client("dynamodb")``. Baseline and functions run interleaved,
in a shuffled order each round, so that noise falls on all of them alike. After INIT, each child
also serves two requests with DynamoDB answered at botocore's HTTP layer (the baseline: two
get_item calls), to show what the first request adds. Separate -X importtime runs (INIT only)
tell where the import time goes."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import http_functions, median, ratio, table, use_functions_environment, verdict
from local.api.gateway import LAYER_PATH, add_layer_to_path
from local.aws.fake_env import FAKE_AWS_ENV
from local.stack.template import ROOT

TARGET_RATIO = 1.25  # issue 16: every HTTP function within 1.25× the bare boto3 floor
BASELINE = "baseline: boto3.client"
# Powertools' resolver with validation, Logger and Metrics, and no project code (bench/powertools_floor):
# measured beside the functions, as the part of their cold start no change to sessions/ can remove
FLOOR = "floor: Powertools resolver"
FLOOR_DIR = Path(__file__).resolve().parent / "powertools_floor"
# Modules whose presence after INIT tells what could be made lazy.
WATCHED = (
    "boto3",
    "botocore",
    "s3transfer",
    "awscrt",
    "OpenSSL",
    "cryptography",
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
# In the .venv (dev tools bring them) but neither among the layer's dependencies nor boto3's, and
# picked up opportunistically by botocore and s3transfer if present: hidden in the children by default.
NOT_DEPLOYED = ("awscrt", "OpenSSL", "cryptography")

# Runs in the fresh interpreter. argv: kind, code dir, layer dir, module, attribute, watched, hidden, request.
CHILD = """\
import sys, time
kind, code_dir, layer_dir, module_name, attribute, watched, hidden, request = sys.argv[1:9]
for name in filter(None, hidden.split(",")):
    sys.modules[name] = None
import gc
gc_seconds = [0.0, 0.0]  # total, start of the current collection


def on_gc(phase, info):
    if phase == "start":
        gc_seconds[1] = time.perf_counter()
    else:
        gc_seconds[0] += time.perf_counter() - gc_seconds[1]


gc.callbacks.append(on_gc)
start = time.perf_counter()
if kind == "baseline":
    import boto3
    imported = time.perf_counter()
    client = boto3.client("dynamodb")
elif kind == "floor":
    sys.path[:0] = [code_dir]
    __import__(module_name)
    handler = getattr(sys.modules[module_name], attribute)
    imported = time.perf_counter()
    import botocore.session  # as the functions make theirs (sessions.store): no boto3
    client = botocore.session.get_session().create_client("dynamodb")
else:
    sys.path[:0] = [code_dir, layer_dir]
    __import__(module_name)  # what importlib.import_module does, but seen by -X importtime
    handler = getattr(sys.modules[module_name], attribute)
    imported = time.perf_counter()
    from sessions import store
    client = store.dynamodb_client()
ready = time.perf_counter()
gc_ms = gc_seconds[0] * 1000
loaded = [name for name in watched.split(",") if sys.modules.get(name) is not None]
module_count = sum(module is not None for module in sys.modules.values())
import json
result = {
    "import_ms": (imported - start) * 1000,
    "client_ms": (ready - imported) * 1000,
    "total_ms": (ready - start) * 1000,
    "gc_ms": gc_ms,
    "loaded": loaded,
    "module_count": module_count,
}
if request:
    # two requests; DynamoDB is answered at the HTTP layer, so botocore does everything but send
    from types import SimpleNamespace
    from botocore.awsrequest import AWSResponse
    plan = json.loads(request)

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **_):
            yield self.body

    def answer(request, event_name, **_):
        body = json.dumps(plan["responses"].get(event_name.rsplit(".", 1)[-1], {})).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}
        return AWSResponse(request.url, 200, headers, Raw(body))

    client.meta.events.register("before-send.dynamodb", answer)
    if kind == "baseline":
        key = {"PK": {"S": "T#acme#S#bench"}, "SK": {"S": "#SESSION"}}

        def call(event):
            client.get_item(TableName="sessions", Key=key, ConsistentRead=True)
            return 200
    else:
        context = SimpleNamespace(
            function_name="bench", memory_limit_in_mb=512, aws_request_id="bench",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench",
            get_remaining_time_in_millis=lambda: 10000,
        )

        def call(event):
            return handler(event, context)["statusCode"]
    events = [json.loads(plan["event"]) for _ in range(2)]
    before = set(sys.modules)
    timings, statuses = [], []
    for event in events:
        began = time.perf_counter()
        statuses.append(call(event))
        timings.append((time.perf_counter() - began) * 1000)
    result.update(
        first_ms=timings[0], second_ms=timings[1], statuses=statuses,
        request_modules=sorted(set(sys.modules) - before),
    )
print(json.dumps(result))
"""


def short(name: str) -> str:
    """A column-sized name: 'baseline', 'CreateSession'."""
    return "baseline" if name == BASELINE else name.removesuffix("Function")


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
    """One kind of fresh process: the baseline or a function's INIT, then two requests."""

    name: str
    entry: str  # the module the child imports first
    argv: list[str]
    env: dict[str, str]
    request: str  # JSON: the event and the canned DynamoDB answers of the first requests
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

    def module_ms(self, module: str) -> float:
        return median([profile.self_ms.get(module, 0.0) for profile in self.profiles])

    def entry_body_ms(self) -> float:
        return median([profile.entry_body_ms for profile in self.profiles])

    def entry_imports_ms(self) -> dict[str, float]:
        names = {name for profile in self.profiles for name in profile.entry_imports_ms}
        return {name: median([profile.entry_imports_ms.get(name, 0.0) for profile in self.profiles]) for name in names}


def _lambda_env(extra: dict[str, str]) -> dict[str, str]:
    """A Lambda-like environment: fake credentials, no shared config files, nothing inherited but PATH."""
    return {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **FAKE_AWS_ENV, **extra}


def _function_env(environment: dict[str, str], name: str) -> dict[str, str]:
    return _lambda_env(
        {
            **environment,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
    )


def _canned_responses() -> dict[str, Any]:
    """What DynamoDB answers in the first requests: the canned session for reads, success for writes."""
    from bench.overhead import canned_item

    use_functions_environment()  # the item is made here, with the settings the functions read
    item = canned_item()
    return {"GetItem": {"Item": item}, "Query": {"Items": [item], "Count": 1, "ScannedCount": 1}}


def _sources_as_deployed(into: Path) -> tuple[Path, Path]:
    """Copies of the functions' code and of the layer as `sam build` makes them: the functions without
    __pycache__ (-B stops the children writing .pyc files, not reading those that tests and the dev
    server left next to the sources), the layer compiled as layers/common/Makefile compiles it."""
    functions, layer = into / "functions", into / "layer"
    no_bytecode = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "functions", functions, ignore=no_bytecode)
    shutil.copytree(LAYER_PATH, layer, ignore=no_bytecode)
    flags = ["-q", "-f", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([sys.executable, "-m", "compileall", *flags, str(layer)], check=True, stdout=subprocess.DEVNULL)
    return functions, layer


def subjects(hidden: tuple[str, ...], sources: Path | None = None) -> list[Subject]:
    """The baseline first, then every function with an HTTP route (its code and the layer copied into
    `sources` without bytecode, when given)."""
    from bench.overhead import request_for

    add_layer_to_path()
    hide = ",".join(hidden)
    watched = ",".join(WATCHED)
    responses = _canned_responses()
    baseline_request = json.dumps({"responses": responses, "event": "{}"})
    found = [Subject(BASELINE, "boto3", ["baseline", "", "", "", "", watched, hide], _lambda_env({}), baseline_request)]
    functions_dir, layer_dir = _sources_as_deployed(sources) if sources else (None, LAYER_PATH)
    specs = http_functions()
    get_session = next(spec for spec in specs if spec.logical_id == "GetSessionFunction")
    floor_plan = json.dumps({"responses": responses, "event": json.dumps(request_for(get_session)())})
    floor_argv = ["floor", str(FLOOR_DIR), "", "app", "lambda_handler", watched, hide]
    found.append(Subject(FLOOR, "app", floor_argv, _function_env(get_session.environment, "Floor"), floor_plan))
    for spec in specs:
        make_event = request_for(spec)
        module, _, attribute = spec.handler.rpartition(".")
        env = _function_env(spec.environment, spec.logical_id)
        code_dir = functions_dir / Path(spec.code_uri).name if functions_dir else Path(spec.code_uri)
        argv = ["function", str(code_dir), str(layer_dir), module, attribute, watched, hide]
        plan = json.dumps({"responses": responses, "event": json.dumps(make_event())})
        found.append(Subject(spec.logical_id, module, argv, env, plan))
    return found


def _spawn(subject: Subject, flags: list[str], *, with_requests: bool) -> subprocess.CompletedProcess[str]:
    # -I: no user site, no PYTHON* variables; -B: nothing is written, as in Lambda's read-only code
    # directories (the function's own module compiles at every start; the layer ships .pyc, and
    # site-packages keep their installed .pyc)
    request = subject.request if with_requests else ""
    command = [sys.executable, "-I", "-B", *flags, "-c", CHILD, *subject.argv, request]
    try:
        return subprocess.run(
            command, env=subject.env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{subject.name}: the child failed\n{exc.stderr}") from None


def measure_once(subject: Subject) -> None:
    started = time.perf_counter()
    result = _spawn(subject, [], with_requests=True)
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
    """One -X importtime run of INIT alone (no requests, so only INIT's imports are counted)."""
    result = _spawn(subject, ["-X", "importtime"], with_requests=False)
    subject.profiles.append(parse_importtime(result.stderr, subject.entry))


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


def run(repeat: int, *, profile_runs: int = 3, keep_undeployed: bool = False, seed: int = 1) -> dict[str, Any]:
    """Measure every subject `repeat` times, interleaved; print the tables; return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as sources:
        return _run(repeat, profile_runs, () if keep_undeployed else NOT_DEPLOYED, seed, Path(sources))


def _run(repeat: int, profile_runs: int, hidden: tuple[str, ...], seed: int, sources: Path) -> dict[str, Any]:
    everyone: list[Subject] = []
    failed: dict[str, str] = {}
    for subject in subjects(hidden, sources):  # warm-up: fill the OS file cache, discarded; drop a function that fails
        try:
            _spawn(subject, [], with_requests=True)
        except RuntimeError as exc:
            if subject.name in (BASELINE, FLOOR):
                raise
            failed[subject.name] = str(exc).strip().splitlines()[-1]
            continue
        everyone.append(subject)
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
    floor_total = next(median(subject.samples("total_ms")) for subject in everyone if subject.name == FLOOR)
    base_cold = median([run["total_ms"] + run["first_ms"] for run in baseline.runs])
    figures: dict[str, Any] = {
        "repeat": repeat,
        "profile_runs": profile_runs,
        "hidden_modules": list(hidden),
        "target_ratio": TARGET_RATIO,
        "subjects": {},
        "failed": failed,
        "compile_ms": {
            "sessions_package": compile_ms(sorted((LAYER_PATH / "sessions").glob("*.py"))),
            **{subject.name: compile_ms([Path(subject.argv[1]) / f"{subject.entry}.py"]) for subject in everyone[1:]},
        },
    }
    for subject in everyone:
        total, wall = median(subject.samples("total_ms")), median(subject.wall_ms)
        cold = median([run["total_ms"] + run["first_ms"] for run in subject.runs])
        entry: dict[str, Any] = {
            "import_ms": median(subject.samples("import_ms")),
            "client_ms": median(subject.samples("client_ms")),
            "total_ms": total,
            "gc_ms": median(subject.samples("gc_ms")),
            "ratio": ratio(total, base_total),
            "floor_ratio": ratio(total, floor_total),
            "wall_ms": wall,
            "wall_ratio": ratio(wall, base_wall),
            "first_request_ms": median(subject.samples("first_ms")),
            "second_request_ms": median(subject.samples("second_ms")),
            "init_and_first_request_ms": cold,
            "init_and_first_request_ratio": ratio(cold, base_cold),
            "first_request_new_modules": subject.runs[-1]["request_modules"],
            "request_statuses": sorted({status for run in subject.runs for status in run["statuses"]}),
            "module_count": subject.runs[-1]["module_count"],
            "loaded": subject.loaded,
            "package_self_ms": {name: subject.package_ms(name) for name in WATCHED if name in subject.loaded},
            "entry_module": subject.entry,
            "entry_body_ms": subject.entry_body_ms(),
            "entry_direct_imports_ms": subject.entry_imports_ms(),
            "samples_total_ms": subject.samples("total_ms"),
            "samples_wall_ms": subject.wall_ms,
        }
        if subject.name not in (BASELINE, FLOOR):
            entry["meets_target"] = entry["ratio"] <= TARGET_RATIO
        figures["subjects"][subject.name] = entry
    _print(everyone, figures)
    for name, error in failed.items():
        print(f"  left out, INIT failed: {name}: {error}")
    return figures


def _print(everyone: list[Subject], figures: dict[str, Any]) -> None:
    results = figures["subjects"]
    rows = []
    for subject in everyone:
        result = results[subject.name]
        met = verdict(result["meets_target"]) if "meets_target" in result else ""
        rows.append(
            [
                subject.name,
                result["import_ms"],
                result["client_ms"],
                result["gc_ms"],
                result["total_ms"],
                result["ratio"],
                result["floor_ratio"],
                result["wall_ms"],
                result["wall_ratio"],
                result["module_count"],
                met,
            ]
        )
    headers = [
        "process",
        "import ms",
        "client ms",
        "of it gc",
        "total ms",
        "× base",
        "× floor",
        "wall ms",
        "wall × base",
        "modules",
    ]
    title = f"Cold start: import + boto3 client in a fresh interpreter (median of {figures['repeat']}, interleaved)"
    print(table([*headers, f"≤{TARGET_RATIO}×"], rows, title=title))
    print(
        "  total = import + client, timed inside the child (gc: the cyclic collector's share; medians per column, so"
        " they need not add up); wall = the whole child, interpreter start included; × floor = against Powertools'"
        " resolver with validation and no project code (bench/powertools_floor)."
    )
    if figures["hidden_modules"]:
        hidden = ", ".join(figures["hidden_modules"])
        print(f"  hidden in the children (in the .venv, not deployed; --keep-undeployed to allow): {hidden}")
    print()

    rows = []
    for subject in everyone:
        result = results[subject.name]
        new_modules = result["first_request_new_modules"]
        rows.append(
            [
                subject.name + (" (get_item)" if subject.name == BASELINE else ""),
                result["first_request_ms"],
                result["second_request_ms"],
                result["init_and_first_request_ms"],
                result["init_and_first_request_ratio"],
                ",".join(map(str, result["request_statuses"])),
                _summary(new_modules),
            ]
        )
    headers = [
        "process",
        "1st req ms",
        "2nd req ms",
        "INIT+1st ms",
        "× base",
        "status",
        "modules the 1st request imports",
    ]
    title = "First requests after INIT (DynamoDB answered at the HTTP layer: botocore does all but send)"
    print(table(headers, rows, title=title))
    print()

    columns = [short(subject.name) for subject in everyone]
    heavy_rows = [
        [module, *(f"{subject.package_ms(module):.1f}" if module in subject.loaded else "no" for subject in everyone)]
        for module in WATCHED
    ]
    title = (
        "Packages loaded by INIT: ms of their own code (self time summed over the package's modules,"
        f" median of {figures['profile_runs']} -X importtime runs; no = not loaded)"
    )
    print(table(["package", *columns], heavy_rows, title=title))
    print()

    largest: dict[str, float] = {}
    for subject in everyone:
        for profile in subject.profiles:
            for name, ms in profile.self_ms.items():
                largest[name] = max(largest.get(name, 0.0), ms)
    top = sorted(largest, key=lambda name: -largest[name])[:12]
    rows = [[name, *(subject.module_ms(name) for subject in everyone)] for name in top]
    print(table(["module", *columns], rows, title="Slowest single modules (self ms, median; 0 = not loaded)"))
    print()

    functions = everyone[1:]
    largest = {}
    for subject in functions:
        for name, ms in subject.entry_imports_ms().items():
            largest[name] = max(largest.get(name, 0.0), ms)
    top = sorted(largest, key=lambda name: -largest[name])[:8]
    rows = [["module body (create_app, routes)", *(subject.entry_body_ms() for subject in functions)]]
    rows += [[f"import {name}", *(subject.entry_imports_ms().get(name, 0.0) for subject in functions)] for name in top]
    rows.append(["compile the handler's source", *(figures["compile_ms"][subject.name] for subject in functions)])
    title = "Where the handler module's import goes (cumulative ms; a shared module is paid by its first importer)"
    print(table(["handler module", *(short(subject.name) for subject in functions)], rows, title=title))
    package_ms = figures["compile_ms"]["sessions_package"]
    print(f"  compiling the sessions package from source (saved: the layer ships .pyc): {package_ms:.1f} ms")


def _summary(names: list[str], shown: int = 4) -> str:
    """'0', or the count and the first few names."""
    if not names:
        return "0"
    more = " …" if len(names) > shown else ""
    return f"{len(names)}: {', '.join(names[:shown])}{more}"
