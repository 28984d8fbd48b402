"""Command line of the evaluation: read the queries, search the indexed collection, print and write the report."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from src.cli_options import model_and_store_options, settings_from
from src.search import MAX_K, MODES

EXIT_FAILED = 1  # the store or the collection is not usable
EXIT_USAGE = 2  # a flag or the query file is wrong
DEFAULT_QUERIES = Path("evaluation/queries.yaml")
REPORTS = Path("evaluation/reports")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        parents=[model_and_store_options()],
        prog=prog or "python -m evaluation",
        description="Measure search quality on a labelled query set against the collection `index` built.",
    )
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES,
                        help=f"YAML or CSV query file (default {DEFAULT_QUERIES})")
    parser.add_argument("--modes", nargs="+", default=["image", "text", "hybrid"], metavar="MODE",
                        help=f"search modes to compare: {', '.join(MODES)} (default all three; commas work too)")
    parser.add_argument("--k", type=int, default=10, help=f"cut-off of the @k metrics, 1 to {MAX_K} (default 10)")
    parser.add_argument("--out", type=Path, help=f"report folder (default {REPORTS}/<date-time>)")
    parser.add_argument("--labels", type=Path, help="labels CSV for relevance rules (default <images>/labels.csv)")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from evaluation.queries import QueryFileError, load_queries
    from evaluation.report import terminal_table, write_report
    from evaluation.runner import EvaluationError, evaluate
    from src.embedding import ModelUnavailable
    from src.runtime import configure
    from src.settings import SettingsError
    from src.store import StoreUnavailable

    parser = build_parser(prog)
    args = parser.parse_args(argv)
    configure()
    modes = list(dict.fromkeys(m.strip().lower() for text in args.modes for m in text.split(",") if m.strip()))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"unknown mode {unknown[0] if unknown else ''!r}; use {', '.join(MODES)}")
    if not 1 <= args.k <= MAX_K:
        parser.error(f"--k must be between 1 and {MAX_K}, not {args.k}")
    try:
        settings = settings_from(args)
        queries = load_queries(args.queries, settings.dataset_dir, args.labels)
    except (SettingsError, QueryFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{len(queries)} queries from {args.queries}; searching {settings.describe_store()}, "
          f"collection '{settings.collection}'")
    try:
        result = evaluate(settings, queries, modes, args.k)
    except (EvaluationError, StoreUnavailable, ModelUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.not_indexed:
        print(f"warning: {len(result.not_indexed)} relevant files are not in the index and count as missed: "
              f"{', '.join(result.not_indexed[:5])}{' ...' if len(result.not_indexed) > 5 else ''}", file=sys.stderr)
    if result.unjudged:
        print(f"warning: {len(result.unjudged)} queries have no relevant file and are left out of the means: "
              f"{', '.join(result.unjudged)}", file=sys.stderr)
    print()
    print(terminal_table(result))
    out = args.out or REPORTS / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        written = write_report(result, out, str(args.queries))
    except OSError as exc:
        print(f"error: cannot write the report to {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"\nReport: {written[0]} (with {', '.join(p.name for p in written[1:])})")
    return 0
