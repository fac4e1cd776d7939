"""The ``mvlib`` command line: ``mvlib <command> --help`` for each command.

Every command takes ``--profile`` (a name under ``params/`` or a YAML path;
default ``$MVLIB_PROFILE`` or ``default``) and repeated ``--set section.field=value``
overrides (values parsed as YAML: ``--set train.epochs=5 --set data.root=/data``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml


def _overrides(pairs: list[str] | None) -> dict:
    out = {}
    for item in pairs or []:
        if "=" not in item:
            raise SystemExit(f"--set expects section.field=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _config(args):
    from mvlib.config import load_config

    return load_config(args.profile, _overrides(args.set))


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=None, help="params profile name or YAML path")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def cmd_synth(args) -> int:
    from mvlib import synth

    cfg = _config(args)
    out = Path(args.out) if args.out else None
    if out is None:
        from mvlib.workflow import dataset_root

        out = dataset_root(cfg)
    path = synth.generate(cfg.synth, out, progress=not args.quiet)
    print(path)
    return 0


def cmd_extract(args) -> int:
    from mvlib import data
    from mvlib.extract import extract, parse_shard
    from mvlib.features import make_frontend
    from mvlib.workflow import dataset_root, store_dir, store_provenance

    cfg = _config(args)
    if args.data:
        cfg = cfg.replace({"data.root": str(args.data)})
    root = Path(args.data) if args.data else dataset_root(cfg)
    clips = data.load_clips(root, check_audio=cfg.data.check_audio)
    frontend = make_frontend(cfg.features)
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
    )
    print(report.summary() if hasattr(report, "summary") else report)
    print(out)
    return 0


def cmd_train(args) -> int:
    from mvlib.train import train
    from mvlib.workflow import prepare

    cfg = _config(args)
    prep = prepare(cfg, progress=not args.quiet)
    res = train(
        cfg,
        prep.clips,
        prep.splits,
        prep.store,
        run_dir=args.run_dir,
        resume=args.resume,
        progress=not args.quiet,
    )
    print(f"best epoch {res.best_epoch}, val loss {res.best_val:.5f}")
    print(res.run_dir)
    return 0


def cmd_probe(args) -> int:
    from mvlib.probe import probe_run

    results = probe_run(args.run_dir, progress=not args.quiet)
    print(json.dumps(results.get("summary", results), indent=2, default=str))
    return 0


def cmd_config(args) -> int:
    from mvlib.config import to_dict

    print(yaml.safe_dump(to_dict(_config(args)), sort_keys=False), end="")
    return 0


def cmd_sweep(args) -> int:
    from mvlib import sweep
    from mvlib.errors import MvlibError

    cfg = _config(args)
    if args.seeds:
        cfg = cfg.replace({"sweep.seeds": [int(x) for x in args.seeds.split(",")]})
    if args.workers:
        cfg = cfg.replace({"sweep.workers": args.workers})
    entries = sweep.grid(cfg.sweep.mask_ratios)
    if args.only:
        names = [e.name for e in entries]
        unknown = [n for n in args.only if n not in names]
        if unknown:
            raise MvlibError(
                f"--only {unknown[0]!r}", "no such configuration", f"use one of {names}"
            )
        entries = [e for e in entries if e.name in args.only]
    if args.frontend:
        sweep.frontend_results(cfg, progress=not args.quiet)
    status = sweep.run_sweep(
        cfg,
        entries,
        executor=sweep.execute_notebook if args.papermill else sweep.execute,
        progress=not args.quiet,
    )
    cols = [c for c in ("name", "seed", "status", "run_dir") if c in status]
    print(status[cols].to_string(index=False))
    failed = status[status["status"] == "failed"]
    if len(failed):
        first = failed.iloc[0]
        raise MvlibError(
            "mvlib sweep",
            f"{len(failed)} of {len(status)} runs failed (first: {first['name']} seed "
            f"{first['seed']}: {first['error']})",
            f"see failed.json in each run folder (e.g. {first['run_dir']}); fix and rerun: "
            "finished runs are skipped",
        )
    return 0


def _command(sub, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line help is also its ``--help`` description."""
    return sub.add_parser(name, help=text, description=text)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="mvlib",
        description="Latent multi-view self-supervised learning for environmental sound "
        "(dataset synthesis, feature extraction, training, probing).",
    )
    ap.add_argument("--debug", action="store_true", help="show the traceback of mvlib's own errors")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(sub, "config", "print the resolved configuration of a profile")
    _add_common(p)
    p.set_defaults(func=cmd_config)

    p = _command(sub, "synth", "write the synthetic urban sensor dataset (SONYC-UST-V2 format)")
    _add_common(p)
    p.add_argument("--out", help="output folder (default: the cache's dataset folder)")
    p.set_defaults(func=cmd_synth)

    p = _command(sub, "extract", "extract frontend features (DAC latents or log-mel) into a store")
    _add_common(p)
    p.add_argument(
        "--data", help="dataset folder with annotations.csv and audio/ (default: profile's)"
    )
    p.add_argument(
        "--out", help="latent store folder (default: under the cache, named by frontend)"
    )
    p.add_argument("--shard", default="0/1", help="this process's shard i/N (default 0/1)")
    p.set_defaults(func=cmd_extract)

    p = _command(sub, "train", "train a model (multi-view or a baseline) and save its run")
    _add_common(p)
    p.add_argument("--run-dir", default=None, help="run folder (default: under the cache)")
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue an unfinished run in run-dir (default: yes)",
    )
    p.set_defaults(func=cmd_train)

    p = _command(sub, "probe", "probe a trained run's subspaces; writes results.json")
    p.add_argument("run_dir", help="a run folder made by `mvlib train`")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_probe)

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
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command. mvlib's own errors print one line and return 2 (``--debug``: raise)."""
    from mvlib.errors import EXIT_CODE, MvlibError, format_error

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except MvlibError as e:
        if args.debug:
            raise
        print(format_error(e), file=sys.stderr)
        return EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
