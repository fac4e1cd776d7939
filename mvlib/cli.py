"""The ``mvlib`` command line: ``mvlib <command> --help`` for each command.

Every command takes ``--profile`` (a name under ``params/`` or a YAML path;
default ``$MVLIB_PROFILE`` or ``default``) and repeated ``--set section.field=value``
overrides (values parsed as YAML: ``--set train.epochs=5 --set data.root=/data``).

The commands are thin: training, probing, sweeps and embedding go through :mod:`mvlib.api`,
the calls a researcher's own code makes. This module imports argparse-level things only; each
``cmd_*`` imports the layers it uses when it runs, so that ``mvlib --help`` and
``mvlib --version`` start at once (``tests/test_cli_start.py``, ``benchmarks/cli_start.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mvlib.core.errors import EXIT_CODE, MvlibError, format_error, from_os_error
from mvlib.core.version import __version__

# ------------------------------------------------------------------ the commands
# A function-level import below is on purpose: the CLI imports each command's heavy layers
# (torch, numpy, pandas) on use, so that `mvlib --help` starts at once.


def _overrides(pairs: list[str] | None) -> dict:
    """``--set section.field=value`` pairs as a dict (values parsed as YAML)."""
    import yaml  # on use: `mvlib --help` starts at once

    out = {}
    for item in pairs or []:
        if "=" not in item:
            raise MvlibError(
                f"--set {item}", "expects section.field=value", "e.g. --set train.epochs=5"
            )
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise MvlibError(
                f"--set {item}",
                f"the value is not valid YAML ({' '.join(str(e).split())})",
                "quote it, e.g. --set 'data.root=\"/my data\"'",
            ) from e
    return out


def _config(args):
    from mvlib.frontend.choice import load_config  # on use: `mvlib --help` starts at once

    return load_config(args.profile, _overrides(args.set))


def cmd_synth(args) -> int:
    from mvlib.data.dataset import dataset_root  # on use: `mvlib --help` starts at once
    from mvlib.data.synth.generation import generate

    cfg = _config(args)
    out = Path(args.out) if args.out else None
    if out is None:
        out = dataset_root(cfg)
    path = generate(cfg.synth, out, progress=not args.quiet, repair=args.repair)
    print(path)
    return 0


def cmd_extract(args) -> int:
    from mvlib.data import sonyc  # on use: `mvlib --help` starts at once
    from mvlib.data.dataset import ensure_dataset
    from mvlib.frontend.choice import make_frontend
    from mvlib.frontend.config_store import store_dir, store_provenance
    from mvlib.frontend.extract import extract, parse_shard

    cfg = _config(args)
    if args.data:
        cfg = cfg.replace({"data.root": str(args.data)})
    frontend = make_frontend(cfg.features)  # first: wrong DAC weights stop before any work
    # as train does: the profile's dataset is made first where there is none yet
    root = Path(args.data) if args.data else ensure_dataset(cfg, progress=not args.quiet)
    clips = sonyc.load_clips(root, check_audio=cfg.data.check_audio)
    out = Path(args.out) if args.out else store_dir(cfg, frontend)
    prov = store_provenance(cfg)
    report = extract(
        clips,
        out,
        cfg.features,
        provenance=prov,
        shard=parse_shard(args.shard),
        progress=not args.quiet,
        frontend=frontend,
        verify=args.verify,
    )
    if args.quiet:  # otherwise extract printed it (with the skipped clips named)
        print(report.summary())
    print(out)
    return 0


def cmd_store_verify(args) -> int:
    from mvlib.data import sonyc  # on use: `mvlib --help` starts at once
    from mvlib.frontend.store.verify import verify_store

    clips = sonyc.load_clips(args.data, check_audio=False) if args.data else None
    report = verify_store(args.store, clips, full=not args.quick, data_dir=args.data)
    print(report.text(limit=args.limit))
    return 0 if report.ok else 2


def cmd_train(args) -> int:
    from mvlib import api  # on use: `mvlib --help` starts at once
    from mvlib.ml import distributed

    cfg = _config(args)
    # under torchrun: join the process group; every rank trains rank 0's resolved config
    # (api.train_run: rank 0 makes the dataset and store first, the others find them cached)
    with distributed.process_group(cfg.train.device) as ctx:
        cfg = distributed.agree_config(cfg)
        res = api.train_run(
            cfg,
            run_dir=args.run_dir,
            resume=args.resume,
            wait=args.wait,
            progress=not args.quiet,
        )
    if ctx.is_main:
        print(f"best epoch {res.best_epoch}, val loss {res.best_val:.5f}")
        print(res.run_dir)
    return 0


def cmd_probe(args) -> int:
    from mvlib import api  # on use: `mvlib --help` starts at once

    results = api.probe_run(
        args.run_dir, allow_unfinished=args.allow_unfinished, progress=not args.quiet
    )
    print(json.dumps(results.get("summary", results), indent=2, default=str))
    return 0


def cmd_compare(args) -> int:
    from mvlib.compare import compare_runs, format_table  # on use: `mvlib --help` starts at once

    table = compare_runs(args.runs, args.reference, out=args.out, force=args.force)
    print(format_table(table))
    if args.out:
        print(args.out)
    return 0


def cmd_config(args) -> int:
    import yaml  # on use: `mvlib --help` starts at once

    from mvlib.core.config import to_dict

    print(yaml.safe_dump(to_dict(_config(args), complete=True), sort_keys=False), end="")
    return 0


def cmd_embed(args) -> int:
    from mvlib import api  # on use: `mvlib --help` starts at once

    report = api.embed_files(
        args.inputs,
        args.run,
        args.out,
        subspace=args.subspace,
        granularity=args.granularity,
        fmt=args.format,
        checkpoint=args.checkpoint,
        window_s=args.window_s,
        device=args.device,
        progress=not args.quiet,
    )
    print(report.summary())
    return 0


def cmd_labels(args) -> int:
    from mvlib.data.labels import describe, write_labels  # on use: `mvlib --help` starts at once

    table, report = write_labels(args.data_dir, args.out, strict=args.strict, force=args.force)
    for line in describe(table, report):
        print(line)
    print(args.out)
    return 0


def cmd_sweep(args) -> int:
    from mvlib import api, sweep  # on use: `mvlib --help` starts at once

    cfg = _config(args)
    if args.seeds:
        cfg = cfg.replace({"sweep.seeds": [int(x) for x in args.seeds.split(",")]})
    if args.workers:
        cfg = cfg.replace({"sweep.workers": args.workers})
    # refused as the command line spells it (--only), before api.run_sweep checks it again
    sweep.entries_of(cfg, args.only, papermill=args.papermill, option="--only ")
    status = api.run_sweep(
        cfg,
        only=args.only,
        frontend=args.frontend,
        papermill=args.papermill,
        progress=not args.quiet,
    )
    cols = [c for c in ("name", "seed", "status", "run_dir") if c in status]
    print(status[cols].to_string(index=False))
    sweep.raise_failed(status, "mvlib sweep")
    return 0


def cmd_worlds(args) -> int:
    from mvlib import worlds  # on use: `mvlib --help` starts at once
    from mvlib.core.cache import atomic_write_json, cache_dir
    from mvlib.report.worlds import summary_lines

    cfg = _config(args)
    res = worlds.run_study(
        cfg,
        worlds=args.worlds.split(",") if args.worlds else None,
        frontends=args.frontends.split(",") if args.frontends else None,
        progress=not args.quiet,
    )
    out = Path(args.out) if args.out else cache_dir("worlds", cfg.profile) / "worlds.json"
    atomic_write_json(out, res)
    for line in summary_lines(res):
        print(line)
    print(out)
    return 0


def cmd_codec_train(args) -> int:
    from mvlib.ml.codec.trainer import train_codec  # on use: `mvlib --help` starts at once

    cfg = _config(args)
    if args.device:
        cfg = cfg.replace({"codec.device": args.device})
    res = train_codec(cfg, steps=args.steps, progress=not args.quiet)
    if res.is_main:  # under torchrun, rank 0 alone reports
        print(f"step {res.step}, {res.cpu_s:.0f} CPU-s of training")
        print(res.weights)
    return 0


# ------------------------------------------------------------------ the parser


def _command(sub, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line help is also its ``--help`` description."""
    return sub.add_parser(name, help=text, description=text)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=None, help="params profile name or YAML path")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_config(sub) -> None:
    p = _command(sub, "config", "print the resolved configuration of a profile")
    _add_common(p)
    p.set_defaults(func=cmd_config)


def _add_synth(sub) -> None:
    p = _command(sub, "synth", "write the synthetic urban sensor dataset (SONYC-UST-V2 format)")
    _add_common(p)
    p.add_argument("--out", help="output folder (default: the cache's dataset folder)")
    p.add_argument(
        "--repair",
        action="store_true",
        help="rewrite a set mvlib generated with these settings that was changed since",
    )
    p.set_defaults(func=cmd_synth)


def _add_extract(sub) -> None:
    p = _command(sub, "extract", "extract frontend features (DAC latents or log-mel) into a store")
    _add_common(p)
    p.add_argument(
        "--data", help="dataset folder with annotations.csv and audio/ (default: profile's)"
    )
    p.add_argument(
        "--out", help="latent store folder (default: under the cache, named by frontend)"
    )
    p.add_argument("--shard", default="0/1", help="this process's shard i/N (default 0/1)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="also check every clip's audio content hash and latent checksum; redo mismatches",
    )
    p.set_defaults(func=cmd_extract)


def _add_train(sub) -> None:
    p = _command(sub, "train", "train a model (multi-view or a baseline) and save its run")
    _add_common(p)
    p.add_argument("--run-dir", default=None, help="run folder (default: under the cache)")
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue an unfinished run in run-dir (default: yes)",
    )
    p.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when another process is training the same run, wait for it and reuse its "
        "result (default: yes); --no-wait: stop at once, naming its PID and host",
    )
    p.set_defaults(func=cmd_train)


def _add_probe(sub) -> None:
    p = _command(sub, "probe", "probe a trained run's subspaces; writes results.json")
    p.add_argument("run_dir", help="a run folder made by `mvlib train`")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument(
        "--allow-unfinished",
        action="store_true",
        help="probe a run that has not finished (results.json then says so)",
    )
    p.set_defaults(func=cmd_probe)


def _add_embed(sub) -> None:
    p = _command(sub, "embed", "embed audio files, folders or globs with a trained run's encoder")
    p.add_argument("inputs", nargs="+", help="audio files, folders (recursive) or glob patterns")
    p.add_argument("--run", required=True, help="a run folder made by `mvlib train`")
    p.add_argument("--out", required=True, help="output folder (new, or made by mvlib embed)")
    p.add_argument(
        "--subspace", choices=("z_p", "z_s", "both"), default="both", help="both: z_p ⊕ z_s"
    )
    p.add_argument(
        "--granularity",
        choices=("clip", "frame", "both"),
        default="clip",
        help="clip: time mean per file; frame: per frame with times (default clip)",
    )
    p.add_argument(
        "--format",
        choices=("npy", "npz"),
        default="npy",
        help="npy: files per input; npz: one embeddings.npz table (default npy)",
    )
    p.add_argument("--checkpoint", default="best", help="best | last (default best)")
    p.add_argument(
        "--window-s", type=float, default=None, help="window length (default: training clips')"
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_embed)


def _add_compare(sub) -> None:
    p = _command(
        sub, "compare", "the paired table (Holm, per-row MDD) of probed runs vs a reference"
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN_OR_SWEEP", help="probed run folders or folders of runs"
    )
    p.add_argument(
        "--reference",
        required=True,
        metavar="NAME",
        help="configuration (or its run folder) to compare with",
    )
    p.add_argument(
        "--out", help="write the table as CSV to this file (nothing is written without it)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("-q", "--quiet", action="store_true", help="(no progress output to hide)")
    p.set_defaults(func=cmd_compare)


def _add_labels(sub) -> None:
    p = _command(sub, "labels", "write a dataset's aggregated labels (DCASE-2020 rules) as CSV")
    p.add_argument("data_dir", help="dataset folder with annotations.csv (only read)")
    p.add_argument("--out", required=True, help="CSV to write (outside the dataset folder)")
    p.add_argument("--strict", action="store_true", help="refuse clips without usable labels")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_labels)


def _add_store(sub) -> None:
    p = _command(sub, "store", "check a latent store (`mvlib store verify STORE_DIR`)")
    store_sub = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    p = _command(
        store_sub,
        "verify",
        "check every part of a latent store (headers, index vs data, checksums) and, with "
        "--data, that it holds each clip of the dataset once, from unchanged audio; says what "
        "is missing or stale and which `mvlib extract --shard i/N` redoes it; exit 0 if all "
        "is well, 2 otherwise",
    )
    p.add_argument("store", help="the latent store folder")
    p.add_argument("--data", help="dataset folder (annotations.csv, audio/) the store must hold")
    p.add_argument(
        "--quick",
        action="store_true",
        help="trust audio whose size and mtime are unchanged (skip content hashes)",
    )
    p.add_argument("--limit", type=int, default=10, help="clips named per kind of finding")
    p.set_defaults(func=cmd_store_verify)


def _add_codec(sub) -> None:
    p = _command(sub, "codec", "train a DAC-architecture codec (`mvlib codec train`)")
    codec_sub = p.add_subparsers(dest="codec_command", required=True, metavar="ACTION")
    p = _command(
        codec_sub,
        "train",
        "train (or continue) the profile's codec on its own synthetic corpus; resumes after "
        "a kill; under torchrun every rank takes part of each batch",
    )
    _add_common(p)
    p.add_argument("--steps", type=int, help="train up to this step (default: codec.steps)")
    p.add_argument("--device", help="cpu | cuda | cuda:N (default: codec.device)")
    p.set_defaults(func=cmd_codec_train)


def _add_sweep(sub) -> None:
    p = _command(sub, "sweep", "run the ablation grid of Tables 1 and 2 (train + probe each run)")
    _add_common(p)
    p.add_argument("--seeds", help="comma-separated seeds (default: the profile's sweep.seeds)")
    p.add_argument("--workers", type=int, help="parallel runs (default: sweep.workers)")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this configuration of the grid, e.g. 'rec + cos- sample' (repeatable)",
    )
    p.add_argument(
        "--frontend",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also probe the frontend-only baseline (default: yes)",
    )
    p.add_argument(
        "--papermill",
        action="store_true",
        help="train each run by executing book/03_train.ipynb (keeps the notebook; slower)",
    )
    p.set_defaults(func=cmd_sweep)


def _add_worlds(sub) -> None:
    p = _command(
        sub,
        "worlds",
        "where multi-view learning helps: the best multi-view model against the frontend "
        "and rec in every world x frontend (resumes: each cell is a sweep)",
    )
    _add_common(p)
    p.add_argument("--worlds", help="comma-separated worlds (default: all of mvlib.worlds.WORLDS)")
    p.add_argument("--frontends", help="comma-separated frontends (default: logmel,codec)")
    p.add_argument("--out", help="results file (default: <cache>/worlds/<profile>/worlds.json)")
    p.set_defaults(func=cmd_worlds)


#: the commands, in the order ``mvlib --help`` lists them
_COMMANDS = (
    _add_config,
    _add_synth,
    _add_extract,
    _add_train,
    _add_probe,
    _add_embed,
    _add_compare,
    _add_labels,
    _add_store,
    _add_codec,
    _add_sweep,
    _add_worlds,
)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="mvlib",
        description="Latent multi-view self-supervised learning for environmental sound "
        "(dataset synthesis, feature extraction, training, probing).",
    )
    ap.add_argument("--debug", action="store_true", help="show the traceback of mvlib's own errors")
    ap.add_argument("--version", action="version", version=f"mvlib {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command. mvlib's own errors print one line and return 2 (``--debug``: raise)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except MvlibError as e:
        if args.debug:
            raise
        print(format_error(e), file=sys.stderr)
        return EXIT_CODE
    except OSError as e:  # a file the user named: missing, unreadable, a full or read-only disk
        if args.debug or e.filename is None:
            raise
        print(format_error(from_os_error(e)), file=sys.stderr)
        return EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
