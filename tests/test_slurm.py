"""The Slurm scripts (scripts/slurm/*.sbatch): they parse, and under an emulated Slurm
(stub ``srun``/``scontrol`` that record their command line) they launch torchrun and mvlib
with arguments that torchrun's and mvlib's own parsers accept."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from torch.distributed.run import get_args_parser

from mvlib.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "scripts" / "slurm"


@pytest.mark.parametrize("name", ["train.sbatch", "extract.sbatch"])
def test_scripts_parse_with_bash_n(name):
    subprocess.run(["bash", "-n", str(SLURM / name)], check=True)


def _emulate(tmp_path, script, env, *args):
    """Run ``script`` with stub srun/scontrol; return (returncode, srun argv, stderr)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    record = tmp_path / "srun.argv"
    (bin_ / "srun").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {shlex.quote(str(record))}\n')
    (bin_ / "scontrol").write_text("#!/bin/bash\necho node-a\necho node-b\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    full = {
        "PATH": f"{bin_}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "MVLIB_CACHE": str(tmp_path / "cache"),
        **env,
    }
    p = subprocess.run(
        ["bash", str(SLURM / script), *args], env=full, capture_output=True, text=True
    )
    argv = record.read_text().splitlines() if record.exists() else None
    return p.returncode, argv, p.stderr


def _after(argv, *marker):
    for i in range(len(argv) - len(marker) + 1):
        if tuple(argv[i : i + len(marker)]) == marker:
            return argv[i + len(marker) :]
    raise AssertionError(f"{marker} not in {argv}")


def test_train_script_launches_torchrun_with_c10d_rendezvous_and_mvlib_train(tmp_path):
    env = {
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_JOB_NODELIST": "node-[a-b]",
        "SLURM_JOB_ID": "77",
        "SLURM_GPUS_ON_NODE": "4",
    }
    rc, argv, err = _emulate(
        tmp_path, "train.sbatch", env, "--profile", "paper", "--set", "train.epochs=3"
    )
    assert rc == 0, err
    assert "--ntasks-per-node=1" in argv  # one torchrun agent per node
    run = _after(argv, "-m", "torch.distributed.run")
    targs = get_args_parser().parse_args(run)  # torchrun's own parser accepts them
    assert (targs.nnodes, targs.nproc_per_node) == ("2", "4")
    assert targs.rdzv_backend == "c10d" and targs.rdzv_endpoint == "node-a:29500"
    assert targs.rdzv_id == "77" and targs.module and targs.training_script == "mvlib"
    margs = build_parser().parse_args(targs.training_script_args)
    assert margs.command == "train" and margs.profile == "paper"
    assert margs.set == ["train.epochs=3"]


def test_train_script_defaults_to_the_paper_profile_and_needs_a_cache(tmp_path):
    env = {"SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "node-a", "SLURM_JOB_ID": "1"}
    rc, argv, _ = _emulate(tmp_path, "train.sbatch", env)
    margs = build_parser().parse_args(_after(argv, "-m", "mvlib"))
    assert rc == 0 and margs.profile == "paper"
    other = tmp_path / "no-cache"
    other.mkdir()
    rc, argv, err = _emulate(other, "train.sbatch", {**env, "MVLIB_CACHE": ""})
    assert rc != 0 and "MVLIB_CACHE" in err


def test_extract_array_task_runs_its_shard(tmp_path):
    env = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "0"}
    rc, argv, err = _emulate(tmp_path, "extract.sbatch", env, "--profile", "paper", "-q")
    assert rc == 0, err
    margs = build_parser().parse_args(_after(argv, "-m", "mvlib"))
    assert margs.command == "extract" and margs.shard == "3/8" and margs.quiet
    from mvlib.frontend.extract import parse_shard

    assert parse_shard(margs.shard) == (3, 8)


def test_extract_rerun_of_one_task_keeps_the_shard_count(tmp_path):
    # `MVLIB_SHARDS=8 sbatch --array=5 …`: Slurm says 1 task; the shard stays 5/8
    env = {
        "SLURM_ARRAY_TASK_ID": "5",
        "SLURM_ARRAY_TASK_COUNT": "1",
        "SLURM_ARRAY_TASK_MIN": "5",
        "MVLIB_SHARDS": "8",
    }
    rc, argv, err = _emulate(tmp_path, "extract.sbatch", env)
    assert rc == 0, err
    assert build_parser().parse_args(_after(argv, "-m", "mvlib")).shard == "5/8"


def test_extract_refuses_an_array_that_does_not_start_at_zero(tmp_path):
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}
    rc, argv, err = _emulate(tmp_path, "extract.sbatch", env)
    assert rc == 2 and argv is None and "--array must start at 0" in err
