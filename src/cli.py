"""Command line: `index`, `serve` (`--index`: and index meanwhile), `run` (index, then serve), and
`evaluate` (the evaluation package's CLI)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from src.cli_options import add_setting_flags, settings_from
from src.runtime import configure
from src.settings import Settings, SettingsError

EXIT_USAGE = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=Path(sys.argv[0]).name,
                                     description="Semantic search for advertisement images.")
    common = argparse.ArgumentParser(add_help=False)
    add_setting_flags(common)
    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serving.add_argument("--port", type=int, default=8000, help="port (default 8000)")

    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", parents=[common], help="embed the image folder into the store")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    checks = index.add_mutually_exclusive_group()
    checks.add_argument("--check", action="store_true",
                        help="verify the store against the image folder and change nothing (exit 1 if damaged)")
    checks.add_argument("--repair", action="store_true",
                        help="rebuild what --check finds missing, keeping what is intact, then index")
    serve = commands.add_parser("serve", parents=[common, serving], help="serve the search pages")
    serve.add_argument("--index", action="store_true",
                       help="also index the image folder, in the background: searches work while it writes")
    run = commands.add_parser("run", parents=[common, serving], help="index, then serve")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    # Listed for --help; main() hands its arguments to the evaluation's own parser.
    commands.add_parser("evaluate", add_help=False,
                        help="measure search quality on a labelled query set (python -m evaluation --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["evaluate"]:
        from evaluation.cli import main as evaluate

        return evaluate(argv[1:], prog="main.py evaluate")
    args = build_parser().parse_args(argv)
    configure()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "index" and args.check:
        return run_check(settings)
    if args.command == "index":
        return run_index(settings, progress=not args.no_progress, repair=args.repair)
    if args.command == "serve":
        return run_server(settings, args.host, args.port, index=args.index)
    status = run_index(settings, progress=not args.no_progress)
    if status != 0:
        print("Serving the pages anyway: they show what is missing.", file=sys.stderr)
    return run_server(settings, args.host, args.port)


def run_check(settings: Settings) -> int:
    from src.indexing import check_store
    from src.store import StoreUnavailable, open_store

    try:
        with open_store(settings) as store:
            check = check_store(settings.dataset_dir, store)
    except (StoreUnavailable, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(check.summary())
    return 0 if check.healthy else EXIT_FAILED


def _open_for_repair(settings: Settings):
    """The store; an embedded collection too damaged to open is moved aside (kept, not deleted) and a
    fresh one opened in its place."""
    import time

    from src.store import StoreDamaged, open_store

    try:
        return open_store(settings, build_in_background=False)
    except StoreDamaged as exc:
        if settings.uses_server:
            raise
        damaged = settings.qdrant_path / settings.collection
        aside = damaged.with_name(f"{settings.collection}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        damaged.rename(aside)
        print(f"warning: {exc}\nmoved the damaged collection to {aside}; rebuilding it", file=sys.stderr)
        return open_store(settings, build_in_background=False)


def run_index(settings: Settings, progress: bool = True, repair: bool = False) -> int:
    from src.disk import DiskError
    from src.embedding import ModelUnavailable
    from src.indexing import check_store, index_folder, repair_store
    from src.recovery import finish_interrupted
    from src.store import StoreUnavailable, open_store
    from src.text_reading import open_reader

    print(f"Indexing {settings.dataset_dir} into {settings.describe_store()}, collection '{settings.collection}'"
          + (f" (OCR: {', '.join(settings.engines)})" if settings.engines else " (OCR off)"))
    reader = open_reader(settings, lambda message: print(f"warning: {message}", file=sys.stderr))
    if settings.engines and reader is None:
        print("warning: no OCR engine can run here; indexing pictures without their text", file=sys.stderr)
    try:
        # This process holds the store alone, so the search graphs are built in place: a build in a child
        # process took 1.8x as long and 2.7x the disk at 100k points (benchmarks/results/graph_build.md).
        with (_open_for_repair(settings) if repair else open_store(settings, build_in_background=False)) as store:
            store.state()  # a store that is down is known at once, not after loading the model
            finish_interrupted(settings, store)
            embedder = _load_model_or_none(settings, reader)
            if repair:
                check = check_store(settings.dataset_dir, store)
                print(check.summary())
                repair_store(settings.dataset_dir, embedder, store, check)
            report = index_folder(
                settings.dataset_dir, embedder, store, settings.batch_size, progress=progress, reader=reader
            )
    except (ModelUnavailable, StoreUnavailable, FileNotFoundError, DiskError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a full or read-only OCR cache, or image folder: one line, what is written stays
        from src.disk import disk_error, is_disk_error

        if not is_disk_error(exc):
            raise
        print(f"error: {disk_error(exc, 'the index run')}; what was indexed is kept, run index again",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted: what was written is kept; run index again to finish.", file=sys.stderr)
        return 130
    finally:
        if reader:
            reader.close()
    print(report.summary())
    return 0


def _load_model_or_none(settings: Settings, reader):
    """The CLIP model, or None (text only) when it cannot load and OCR can still index the text."""
    from src.embedding import ClipEmbedder, ModelUnavailable

    embedder = ClipEmbedder.from_settings(settings)
    try:
        return embedder.load()
    except ModelUnavailable as exc:
        if reader is None:
            raise
        print(f"warning: {exc}", file=sys.stderr)
        print("Indexing the text in the images only. Run index again once the model loads: it adds the "
              "image vectors and takes the text from the OCR cache.", file=sys.stderr)
        return None


def run_server(settings: Settings, host: str, port: int, index: bool = False) -> int:
    from src.serving import first_lines, serve
    from src.web import create_app

    lines = first_lines(settings, host, port)
    print(lines[0] + (f", indexing {settings.dataset_dir} meanwhile" if index else ""))
    for line in lines[1:]:
        print(line)
    serve(create_app(settings, index_on_start=index, host=host), settings, host, port)
    return 0
