"""Benchmarks of the session service: cold-start imports, warm per-request overhead, DynamoDB round trips.

Run from the repository root: ``python -m bench [cold|overhead|calls|all] [--quick] [--json PATH]``.
Every figure is read against a baseline measured side by side in the same run, because the
machine is noisy: compare ratios, not absolute numbers, across runs.
"""
