"""python -m bench [cold|overhead|calls|cost|growth|load|contention|client|compaction|fork|langgraph|erasure|export|all]
[--baseline CHECKOUT] [--repeat N] [--iterations N] [--quick] [--smoke] [--json PATH] [--write-docs [PATH]]"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import docs_page
from bench.common import SMOKE_ENV

SECTIONS = (
    "cold",
    "overhead",
    "calls",
    "cost",
    "growth",
    "load",
    "contention",
    "client",
    "compaction",
    "fork",
    "langgraph",
    "erasure",
    "export",
)
QUICK_REPEAT, QUICK_ITERATIONS, QUICK_PROFILE_RUNS = 3, 200, 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Cold-start, warm-overhead, round-trip, cost and data-growth benchmarks, as ratios to baselines.",
    )
    parser.add_argument("section", nargs="?", choices=[*SECTIONS, "all"], default="all", help="what to run (all)")
    parser.add_argument("--repeat", type=int, default=None, help="fresh processes per subject for cold (15)")
    parser.add_argument("--iterations", type=int, default=None, help="measured calls per handler for overhead (2000)")
    parser.add_argument("--profile-runs", type=int, default=None, help="-X importtime runs per subject for cold (3)")
    parser.add_argument(
        "--keep-undeployed",
        action="store_true",
        help="let cold-start children import awscrt, pyOpenSSL, cryptography (hidden by default: not deployed)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="load: also run another checkout's dev server (e.g. main's), alternately with this one's",
    )
    parser.add_argument("--quick", action="store_true", help="a fast, rough run (3 repeats, 200 iterations)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every step once at the smallest size (two functions, a few requests): checks that a section runs; "
        "its figures mean nothing",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--write-docs",
        type=Path,
        nargs="?",
        const=docs_page.DOCS_PAGE,
        metavar="PATH",
        help="also rewrite each section's block of docs/benchmarks.md (or PATH) with what it printed",
    )
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs and args.write_docs.resolve() == docs_page.DOCS_PAGE:
        parser.error("a --smoke run's figures mean nothing: it writes docs only to a PATH of its own")
    return args


def section_command(section: str, args: argparse.Namespace) -> str:
    """The command line that runs this section alone with the run's settings, as the docs show it."""
    words = ["python -m bench", section]
    for flag, value in (
        ("--repeat", args.repeat),
        ("--iterations", args.iterations),
        ("--profile-runs", args.profile_runs),
        ("--baseline", args.baseline),
    ):
        if value is not None:
            words.append(f"{flag} {value}")
    words += [flag for flag, on in (("--keep-undeployed", args.keep_undeployed), ("--smoke", args.smoke)) if on]
    if args.quick and not args.smoke:
        words.append("--quick")
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    smoke = args.smoke
    args.quick = args.quick or smoke
    repeat = args.repeat or (1 if smoke else QUICK_REPEAT if args.quick else 15)
    iterations = args.iterations or (20 if smoke else QUICK_ITERATIONS if args.quick else 2000)
    profile_runs = args.profile_runs or (QUICK_PROFILE_RUNS if args.quick else 3)
    chosen = SECTIONS if args.section == "all" else (args.section,)
    if args.write_docs:
        try:
            docs_page.check_blocks(args.write_docs, chosen)
        except (OSError, docs_page.MissingMarkers) as error:  # before a long run, not after it
            raise SystemExit(f"python -m bench: --write-docs {args.write_docs}: {error}") from None
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "smoke": smoke,
    }
    quick = " --smoke" if smoke else " --quick" if args.quick else ""
    print(f"bench: {', '.join(chosen)} (python {report['python']}, {platform.machine()}){quick}")
    for section in chosen:
        print()
        started, when, machine = time.perf_counter(), docs_page.utc_now(), docs_page.machine_description()
        # cold and overhead go through every HTTP function; a smoke run, through two (bench.common.http_functions)
        if smoke and section in ("cold", "overhead"):
            os.environ[SMOKE_ENV] = "1"
        else:
            os.environ.pop(SMOKE_ENV, None)
        with docs_page.captured_stdout() as printed:
            report[section] = _run(
                section, args, smoke=smoke, repeat=repeat, iterations=iterations, profile=profile_runs
            )
        seconds = time.perf_counter() - started
        print(f"  ({section}: {seconds:.1f} s)")
        if args.write_docs:  # each section as it ends: a later one that fails loses nothing already run
            run = docs_page.SectionRun(
                section, section_command(section, args), when, machine, seconds, printed.getvalue()
            )
            docs_page.write_runs(args.write_docs, [run])
            print(f"  ({section}: figures written to {args.write_docs})")
    if args.json:
        args.json.write_text(json.dumps(_finite(report), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


def _run(section: str, args: argparse.Namespace, *, smoke: bool, repeat: int, iterations: int, profile: int) -> Any:
    """One section's figures (its module imported only when it runs)."""
    if section == "cold":
        from bench import cold_start

        return cold_start.run(repeat, profile_runs=profile, keep_undeployed=args.keep_undeployed)
    if section == "overhead":
        from bench import overhead

        return overhead.run(iterations, warmup=2 if smoke else 20 if args.quick else 100)
    if section == "calls":
        from bench import calls

        return calls.run()
    if section == "cost":
        from bench import cost

        return cost.run()
    if section == "client":
        from bench import client

        return client.run(iterations, samples=2 if smoke else 10 if args.quick else 30)
    if section in ("compaction", "fork"):
        return _run_dev_server_comparison(section, smoke=smoke, quick=args.quick)
    if section == "langgraph":
        from bench import langgraph

        return langgraph.run(**({"invokes": 3} if smoke else {}))
    if section == "erasure":
        from bench import erasure

        return erasure.run(**({"sessions": 3, "events": 25} if smoke else {"sessions": 20} if args.quick else {}))
    if section == "load":
        from bench import load

        return load.run(
            **({"seconds": 5.0, "users": (4,)} if smoke else {"seconds": 20.0} if args.quick else {}),
            baseline=args.baseline,
        )
    if section == "export":
        from bench import export

        return export.run(**({"sessions": 3, "events": 25} if smoke else {"sessions": 50} if args.quick else {}))
    if section == "contention":
        from bench import contention

        return contention.run(**({"writers": (3,)} if smoke else {}), rounds=1 if args.quick else 2)
    from bench import growth

    sizes = {"sessions": 10, "events_per_session": 5, "samples": 2} if smoke else {"sessions": 200, "samples": 10}
    return growth.run(**(sizes if args.quick else {}))


def _run_dev_server_comparison(section: str, *, smoke: bool, quick: bool) -> Any:
    """A long session against a short one on the dev server: compaction (ADK loads) or fork."""
    if section == "compaction":
        from bench import compaction

        sizes: dict[str, int] = {"events": 60, "base_at": 50, "samples": 2, "slow_samples": 1} if smoke else {}
        return compaction.run(**(sizes or ({"samples": 10} if quick else {})))
    from bench import fork

    sizes = {"events": 60, "short": 5, "samples": 2, "cut_samples": 1} if smoke else {}
    return fork.run(**(sizes or ({"samples": 10} if quick else {})))


def _finite(value: Any) -> Any:
    """JSON has no NaN: missing figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


if __name__ == "__main__":
    raise SystemExit(main())
