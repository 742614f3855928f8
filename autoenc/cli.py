"""Command line: ``python -m autoenc.study {list,show,sweep,status,report,export,codec}``
(also installed as ``autoenc``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from .codeversion import git_commit
from .errors import InputError
from .fileio import make_writable_dir
from .study.estimate import preset_lines
from .study.grid import expand
from .study.lookup import load_swept_spec
from .study.runner import ClusterError
from .study.spec import SpecError, StudySpec, list_studies, load_spec
from .study.store import RunStore

DEFAULT_STUDY = "fashion_ae"
log = logging.getLogger("autoenc")
REPORT_OPTION_HELP = ("report detail/time trade-off, e.g. tsne_train=3000, tsne_models=2, n_boot=5000 "
                      "(repeatable; overrides $AUTOENC_REPORT_OPTIONS)")


def _common(p: argparse.ArgumentParser, study_optional: bool = True) -> None:
    p.add_argument("study", nargs="?" if study_optional else None, default=DEFAULT_STUDY,
                   help=f"study name in studies/ or a .toml path (default {DEFAULT_STUDY})")
    p.add_argument("--preset", default=None,
                   help="a [presets.NAME] table of the study file (e.g. quick; the study file names them); default "
                        "full, and for status/report/export/codec the preset the store was swept with")
    p.add_argument("--out", default="runs", help="run store root (default runs/); runs go to OUT/STUDY/")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--all", action="store_true", help="every study in studies/")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more detail on stderr (sweep: per-epoch progress of each run; report: stage timings)")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="autoenc", description="Autoencoder compression studies.",
                                     epilog="examples:\n  autoenc list\n  autoenc sweep fashion_ae --preset quick "
                                            "--jobs 2\n  autoenc report fashion_ae\n  autoenc codec fashion_ae "
                                            "--cell latent_size=64,loss=bce,depth=2,seed=0 --to codec.npz",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"autoenc {__version__}")
    parser.add_argument("--studies-dir", default=None,
                        help="folder of study .toml files (default: $AUTOENC_STUDIES_DIR, else the studies shipped "
                             "with the package)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="studies found, one line each", epilog="example: autoenc list")
    p.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    p = sub.add_parser("show", help="resolved spec and grid size",
                       epilog="examples:\n  autoenc show fashion_ae\n  autoenc show fashion_ae --preset quick "
                              "--set train.epochs=5", formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p = sub.add_parser("sweep", help="train every run of the grid not yet done, then write the report",
                       epilog="examples:\n  autoenc sweep fashion_ae --preset quick --jobs 2\n"
                              "  nohup autoenc sweep fashion_ae --jobs 2 --no-report &   # the full study, resumable\n"
                              "  autoenc sweep --all --preset quick --report-dir reports",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel runs, and the cores of every stage of the report that follows (default: number "
                        "of cores)")
    p.add_argument("--threads-per-run", type=int, default=1,
                   help="BLAS threads per run (default 1; results are bit-identical for the same value)")
    p.add_argument("--backend", choices=["loky", "dask"], default="loky")
    p.add_argument("--scheduler", default=None, help="dask scheduler address tcp://HOST:8786 (default: LocalCluster)")
    p.add_argument("--force", action="store_true", help="retrain runs that are already done")
    p.add_argument("--retry-failed", action="store_true", help="retrain runs that failed before")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--report-dir", default=None, help="where the report goes (default OUT/STUDY/report)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="memory all parallel runs may take (default: 80%% of this machine's; $AUTOENC_MAX_MEMORY_GB)")
    p.add_argument("--force-report-dir", action="store_true", dest="force_report",
                   help="write the report into a non-empty folder it did not create (it removes nothing there)")
    p.add_argument("--report-option", action="append", default=[], metavar="KEY=VALUE", dest="report_options",
                   help=REPORT_OPTION_HELP)
    p.add_argument("--data-dir", default=None, help="the folder of the data files (they may lie in it or in a "
                   "subfolder named after the data set); nothing else is used. Default: $AUTOENC_DATA_DIR, data/, "
                   "system paths")
    p = sub.add_parser("status", help="done / failed / pending per grid cell",
                       epilog="example: autoenc status fashion_ae --out runs")
    _common(p)
    p = sub.add_parser("report", help="write report.html and README.md from the run store",
                       epilog="examples:\n  autoenc report fashion_ae --report-dir reports/fashion_ae\n"
                              "  autoenc report --all --out runs --report-dir reports -v   # with stage timings",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--report-dir", default=None, help="where the report goes (default OUT/STUDY/report)")
    p.add_argument("--force", action="store_true", dest="force_report",
                   help="write into a non-empty folder the report did not create, replacing its README.md / "
                        "index.html; the report removes only files it wrote itself")
    p.add_argument("--report-option", action="append", default=[], metavar="KEY=VALUE", dest="report_options",
                   help=REPORT_OPTION_HELP)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--jobs", type=int, default=None,
                   help="cores every stage may use: codec workers, BLAS and t-SNE threads (default: all)")
    p = sub.add_parser("export", help="export one trained encoder as .npz or ONNX",
                       epilog="examples:\n  autoenc export fashion_ae --cell latent_size=64,loss=bce,depth=2,seed=0 "
                              "--to encoder.npz   (AutoencoderTransformer.load)\n  autoenc export fashion_ae --cell "
                              "latent=64,loss=bce,depth=2,seed=0 --to decoder.onnx --part decoder",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--cell", required=True, help="grid values, e.g. latent_size=64,loss=bce,depth=2,seed=0")
    p.add_argument("--to", required=True, help="output path: .onnx (ONNX graph of --part), else .npz (the transformer)")
    p.add_argument("--part", choices=["encoder", "decoder", "autoencoder"], default="encoder", help="ONNX only")
    p = sub.add_parser("codec", help="build a codec (quantizer + entropy coder) around one trained encoder",
                       epilog="example: python -m autoenc.study codec fashion_ae --cell latent_size=64,loss=bce,"
                              "depth=2,seed=0 --step-scale 0.5 --to codec.npz  (then autoenc.codec.LatentCodec.load)")
    _common(p)
    p.add_argument("--cell", required=True, help="grid values, e.g. latent_size=64,loss=bce,depth=2,seed=0")
    p.add_argument("--step-scale", type=float, default=0.5,
                   help="quantization step per code dimension, in units of its train-split standard deviation "
                        "(smaller: more bits, less distortion; default 0.5)")
    p.add_argument("--to", required=True, help="output .npz path")
    p.add_argument("--data-dir", default=None, help="the folder of the data files (they may lie in it or in a "
                   "subfolder named after the data set); nothing else is used. Default: $AUTOENC_DATA_DIR, data/, "
                   "system paths")
    return parser


def _studies(args: argparse.Namespace, reading: bool = False) -> list[StudySpec]:
    """The specs named on the command line. Commands that read a store (``reading``) default to
    the preset the store was swept with (its spec.json), not to ``full``."""
    names = [n for n, _ in list_studies()] if getattr(args, "all", False) else [args.study]
    if reading:
        return [load_swept_spec(name, args.out, args.preset, args.overrides) for name in names]
    return [load_spec(name, args.preset, args.overrides) for name in names]


def _store(args: argparse.Namespace, spec: StudySpec) -> RunStore:
    store = RunStore(Path(args.out) / spec.name)
    store.check_layout()  # a file where a folder belongs (or the reverse): one line now, not a traceback later
    return store


def cmd_list(args: argparse.Namespace) -> int:
    rows = list_studies()
    if not rows:
        print("no studies found")
        return 1
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    return 0


def _check_design(spec: StudySpec) -> str:
    """The comparison the study's report makes, in words; a grid its analysis cannot take is an
    error before anything trains (autoenc.analysis.factors)."""
    from .analysis.factors import DesignError, check_structural, design
    from .study.registry import task

    report = str(spec.extra.get("report") or task(spec.task).analysis)
    try:
        d = design(spec, require=report == "autoencoder")
        if report == "autoencoder":
            check_structural(d, spec.task)
    except DesignError as e:
        where = f"{spec.path}" + (f" (preset {spec.preset!r})" if spec.preset != "full" else "")
        raise SpecError(f"{where}: {e}") from None
    return d.describe()


def _check_data(spec: StudySpec) -> list[str]:
    """Your own data sets of the study (paths), read and validated before anything trains: one line
    each (counts, image size, pixel range, classes, checksum); a bad file is an error now."""
    from .datasets import files, info

    names = [spec.data.get("dataset"), *spec.grid.get("dataset", [])]
    lines = []
    for name in dict.fromkeys(n for n in names if n):
        if files.find(str(name)) is None:
            continue
        d = info(str(name))
        classes = ", ".join(d.class_names[:10]) + (", ..." if len(d.class_names) > 10 else "")
        lines.append(f"data {d.name} ({d.source}): {d.n_train:,} train / {d.n_test:,} test images of "
                     f"{' x '.join(map(str, d.shape))}, {d.notes}; {d.n_classes} classes ({classes}); "
                     f"sha256 {d.checksum}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    from .study.resources import describe_resources

    for spec in _studies(args):
        d = spec.to_dict()
        print(json.dumps(d, indent=2))
        print(f"grid: {' x '.join(f'{k}({len(v)})' for k, v in spec.grid.items())} = {spec.grid_size} runs")
        print(_check_design(spec))
        print(describe_resources(spec))
        for line in _check_data(spec):
            print(line)
        print(f"presets (store {_store(args, spec).root}):")
        for line in preset_lines(spec, _store(args, spec), args.overrides):
            print(line)
    return 0


def _program() -> str:
    """How the user started the command line, from ``sys.argv[0]``: ``python -m autoenc.study``
    or ``python -m autoenc.cli`` (the modules), else ``autoenc`` (the console script)."""
    start = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("autoenc")
    if start.suffix == ".py":  # python -m runs the module's file: name the module
        parts = start.with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__main__" else parts
        if "autoenc" in parts:
            return "python -m " + ".".join(parts[len(parts) - 1 - parts[::-1].index("autoenc"):])
    # the console script; main() called from other Python code is written as its equivalent
    return "autoenc"


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed (program and arguments), for provenance."""
    return " ".join([_program(), *(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))])


def _report_dir(args: argparse.Namespace, spec: StudySpec, store: RunStore) -> Path:
    return Path(args.report_dir) if args.report_dir and not args.all else (
        Path(args.report_dir) / spec.name if args.report_dir else store.root / "report")


def _claim_report_dirs(args: argparse.Namespace, specs: list[StudySpec]) -> None:
    """Every output folder of the reports checked (and taken) before any training or analysis:
    a bad path or a folder of the user's fails now, not after the work (autoenc.report.output)."""
    from .report.output import claim

    force = bool(getattr(args, "force_report", False))
    if args.all:  # the index first: its folder holds the study folders
        claim(_index_root(args), kind="index", force=force)
    for spec in specs:
        claim(_report_dir(args, spec, _store(args, spec)), force=force)


def _write_report(args: argparse.Namespace, spec: StudySpec, store: RunStore) -> int:
    from .report import build_report  # a broken report module is an error, not a skipped step

    report_dir = _report_dir(args, spec, store)
    from .report import ReportOptions

    # $AUTOENC_REPORT_OPTIONS first, then the flags: a key given twice takes the last value
    text = ",".join([os.environ.get("AUTOENC_REPORT_OPTIONS", ""), *getattr(args, "report_options", [])])
    try:
        options = ReportOptions.from_env(text)
    except ValueError as e:
        raise SpecError(str(e)) from None
    jobs = getattr(args, "jobs", None)
    if jobs is not None:
        if jobs < 1:
            raise SpecError(f"--jobs must be >= 1, got {jobs}")
        options.max_jobs = jobs  # --jobs bounds every stage, not only the sweep's runs
    verbose = bool(getattr(args, "verbose", 0))
    try:
        path = build_report(store.root, report_dir, spec=spec, command=_command_line(args), options=options,
                            verbose=verbose or None, force=bool(getattr(args, "force_report", False)))
    except (InputError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:
        if verbose:  # -v: the traceback, for a bug report
            raise
        # A study file that validated must not end a sweep in a traceback: say what failed, that the
        # trained runs are safe, and how to get the details.
        raise ReportFailed(f"the report of {spec.name} failed in its analysis ({type(e).__name__}: {_one_line(e)}); "
                           f"every trained run in {store.root} is kept. Run `{_program()} report {spec.name} -v` "
                           "for the traceback and report it as a bug") from e
    log.info(f"report: {path}")
    return 0


def _check_out(out: Path) -> None:
    """``--out`` must be a directory this process can write (created if missing)."""
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {out} is a file, not a directory; choose a directory for the run store")
    make_writable_dir(out, SpecError, "--out")


def _use_data_dir(value: str) -> None:
    """``--data-dir`` means that folder: its files and its data-set subfolders, and no fallback
    to other folders or online sources (autoenc.datasets.locate)."""
    os.environ["AUTOENC_DATA_DIR"] = os.environ["AUTOENC_DATA_DIR_ONLY"] = str(Path(value).resolve())


def _check_data_dir(value: str | None) -> None:
    if value and not Path(value).is_dir():
        raise SpecError(f"--data-dir {value} does not exist or is not a directory; point it at the folder "
                        "that holds the data files (see `python -m autoenc.datasets list`)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from .study.resources import describe_resources
    from .study.runner import data_dir_from_env, default_jobs, log_failures, run_all

    _check_data_dir(args.data_dir)
    if args.data_dir:
        _use_data_dir(args.data_dir)
    if args.jobs is not None and args.jobs < 1:
        raise SpecError(f"--jobs must be >= 1, got {args.jobs}")
    if args.threads_per_run < 1:
        raise SpecError(f"--threads-per-run must be >= 1, got {args.threads_per_run}")
    _check_out(Path(args.out))
    # absolute before dispatch: dask workers elsewhere must write into this store, not their own cwd
    args.out = str(Path(args.out).resolve())
    rc = 0
    specs = _studies(args)
    if args.max_memory_gb is not None:
        os.environ["AUTOENC_MAX_MEMORY_GB"] = str(args.max_memory_gb)
    for spec in specs:  # every study checked before the first run trains
        _check_design(spec)
        describe_resources(spec, jobs=args.jobs or default_jobs())
        for line in _check_data(spec):
            log.info(line)
    if not args.no_report:
        _claim_report_dirs(args, specs)
    for spec in specs:
        store = _store(args, spec)
        configs = expand(spec)
        store.write_spec(spec.to_dict(), spec.path)
        jobs = args.jobs or default_jobs()
        where = ("the cluster's workers" if args.backend == "dask" and args.scheduler else f"{jobs} jobs")
        log.info(f"{spec.name} (preset {spec.preset}): {len(configs)} runs -> {store.root} "
                 f"[{args.backend}, {where} x {args.threads_per_run} BLAS threads]")
        start = time.perf_counter()
        outcomes = run_all(
            store, configs, jobs=jobs, backend=args.backend, scheduler=args.scheduler,
            threads_per_run=args.threads_per_run, retry_failed=args.retry_failed, force=args.force,
            verbose=args.verbose, data_dir=data_dir_from_env(),
        )
        results = store.results(configs)
        store.results().write_csv()  # every done run of the store, whichever preset trained it
        counts = Counter(o.status for o in outcomes)
        store.log_sweep({
            "command": _command_line(args), "preset": spec.preset, "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S",
                                                                                          time.gmtime()),
            "wall_seconds": round(time.perf_counter() - start, 1), "jobs": jobs,
            "threads_per_run": args.threads_per_run, "backend": args.backend, "code": git_commit(), **dict(counts),
        })
        log.info(f"{spec.name}: {counts.get('done', 0)} trained, {counts.get('skipped', 0)} already done, "
                 f"{counts.get('failed', 0)} failed, in {time.perf_counter() - start:.1f} s; "
                 f"results: {store.root / 'results.csv'}")
        log_failures(store, outcomes)
        if counts.get("failed"):
            rc = 1
        if not args.no_report and results.done:
            _write_report(args, spec, store)
    if args.all and not args.no_report:
        _write_index(args)
    return rc


def _index_root(args: argparse.Namespace) -> Path:
    return Path(args.report_dir) if args.report_dir else Path(args.out)


def _write_index(args: argparse.Namespace) -> None:
    from .report import build_index

    log.info(f"index: {build_index(_index_root(args), force=bool(getattr(args, 'force_report', False)))}")


def cmd_status(args: argparse.Namespace) -> int:
    for spec in _studies(args, reading=True):
        store = _store(args, spec)
        configs = expand(spec)
        counts: Counter[str] = Counter()
        print(f"{spec.name} (preset {spec.preset}) in {store.root}")
        for c in configs:
            s = store.status(c.run_id)
            counts[s] += 1
            cell = ", ".join(f"{k}={v}" for k, v in c.params.items())
            extra = ""
            if s == "partial":
                extra = f"  ({store.verify(c.run_id)[1]}; will rerun)" if (store.run_dir(c.run_id) / "DONE").exists() \
                    else "  (interrupted; will rerun)"
            print(f"  {s:<8} {c.run_id}  {cell}{extra}")
        print("  " + ", ".join(f"{k}: {counts.get(k, 0)}" for k in ("done", "failed", "partial", "pending"))
              + f" of {len(configs)}")
        note = _other_settings_note(store, configs, spec)
        if note:
            print("  " + note)
    return 0


def _other_settings_note(store: RunStore, configs: list, spec: StudySpec) -> str:
    """A line when the store holds done runs outside this grid (another preset, other --set values)."""
    others, differ = store.results().other_settings(configs)
    if not others:
        return ""
    what = "; ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in list(differ.items())[:6]) or "other grid values"
    return (f"the store also holds {len(others)} done runs of other settings ({what}); status and report use the "
            f"runs of preset {spec.preset!r} (and any --set values) only; results.csv lists every done run with a "
            "column per setting that differs")


def cmd_report(args: argparse.Namespace) -> int:
    _check_data_dir(args.data_dir)
    if args.data_dir:
        _use_data_dir(args.data_dir)
    specs = _studies(args, reading=True)
    for spec in specs:
        store = _store(args, spec)
        if not store.root.is_dir():
            log.error(f"no run store at {store.root}; run `{_program()} sweep {spec.name}` first")
            return 1
    _claim_report_dirs(args, specs)
    for spec in specs:
        store = _store(args, spec)
        store.results().write_csv()  # every done run of the store: never shrunk to one preset's
        _write_report(args, spec, store)
    if args.all:
        _write_index(args)
    return 0


def _one_study(args: argparse.Namespace, command: str) -> None:
    if args.all:
        raise SpecError(f"{command} writes one file from one run: name one study instead of --all")


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run

    _one_study(args, "export")
    spec = _studies(args, reading=True)[0]
    path = export_run(spec, _store(args, spec), _cell(args.cell), Path(args.to), args.part)
    print(f"{args.part if path.suffix == '.onnx' else 'encoder'} written to {path}")
    return 0


def _cell(text: str) -> dict[str, object]:
    from .study.spec import parse_override

    cell = {}
    for item in text.split(","):
        if "=" not in item:
            raise SpecError(f"--cell {text!r}: expected KEY=VALUE pairs separated by commas")
        k, v = item.split("=", 1)
        cell[k.strip()] = parse_override(f"x={v}")[1]
    return cell


def cmd_codec(args: argparse.Namespace) -> int:
    """Fit a ``LatentCodec`` on the study's train split around one run's encoder; print its rate."""
    import numpy as np

    from .codec import CodecError, LatentCodec
    from .datasets import load_settings as load_split
    from .features import RunLookupError, find_run
    from .study.grid import resolve

    _one_study(args, "codec")
    if not args.step_scale > 0 or not np.isfinite(args.step_scale):
        raise SpecError(f"--step-scale must be a finite number > 0, got {args.step_scale}")
    _check_data_dir(args.data_dir)
    if args.data_dir:
        _use_data_dir(args.data_dir)
    spec = _studies(args, reading=True)[0]
    try:
        run = find_run(spec, _store(args, spec), _cell(args.cell))
        data = resolve(run.config).data
        X_train, _ = load_split(data, "train")
        X_test, _ = load_split(data, "test")
        codec = LatentCodec.from_run(run.path, X_train, step_scale=args.step_scale)
        sample = X_test[:1000]
        blobs = codec.encode(sample)
        mse = float(((codec.decode(blobs) - sample.reshape(len(sample), -1)) ** 2).mean())
        path = codec.save(args.to)
    except (RunLookupError, CodecError, OSError) as e:
        raise SpecError(str(e)) from e
    bpp = float(codec.payload_bits(blobs).sum()) / sample.size
    print(f"codec written to {path}: {bpp:.3f} bits per pixel and MSE {mse:.5f} on the first {len(sample)} "
          f"test images (run {run.run_id})")
    return 0


COMMANDS = {"list": cmd_list, "show": cmd_show, "sweep": cmd_sweep, "status": cmd_status, "report": cmd_report,
            "export": cmd_export, "codec": cmd_codec}


class ReportFailed(RuntimeError):
    """A report's analysis raised something other than an input error (a bug, not the user's)."""


def _one_line(error: Exception) -> str:
    """The message of ``error`` on one line (a path or a value may carry newlines)."""
    return " ".join(str(error).split()) or type(error).__name__


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Messages of the ``autoenc`` loggers to stderr, one line each (-q: warnings and errors only;
    -v: also the detail). The handler is made per call so it writes to the current stderr."""
    logger = logging.getLogger("autoenc")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what was typed, for provenance
    setup_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False))
    if args.studies_dir:
        if not Path(args.studies_dir).is_dir():
            log.error(f"error: --studies-dir {args.studies_dir} is not a directory")
            return 2
        os.environ["AUTOENC_STUDIES_DIR"] = str(Path(args.studies_dir).resolve())
    try:
        return COMMANDS[args.command](args)
    except InputError as e:  # SpecError, ModelFileError, CodecError, RunLookupError, data and store errors
        log.error(f"error: {_one_line(e)}")
        return 2
    except (ClusterError, ReportFailed) as e:
        log.error(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log.error("interrupted: finished runs are kept; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
