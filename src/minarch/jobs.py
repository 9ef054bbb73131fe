"""The job harness every Snakemake script runs in: log to the rule's log file, check that the job runs the
package of the workflow's own checkout, set torch threads, and turn known failures into one
clear line (and a non-zero exit) instead of a traceback."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import minarch
from minarch.config import ConfigError
from minarch.data import DataError
from minarch.io import CheckpointError, OutputError, disk_full, source_hash

log = logging.getLogger("minarch")


class InstallationError(RuntimeError):
    """The job imported a minarch package other than the one of the workflow's checkout."""


def check_checkout(scriptdir: str | os.PathLike) -> None:
    """Jobs must run the code of the checkout whose workflow runs them (``workflow/scripts``
    is ``scriptdir``, the package ``src/minarch`` beside it): with one virtualenv and two
    clones, the package installed from the first would silently run the second's workflow.
    Another installation of the same sources (``pip install .``, not editable) is accepted."""
    checkout = Path(scriptdir).resolve().parents[1]
    expected, found = checkout / "src" / "minarch", Path(minarch.__file__).resolve().parent
    if found == expected.resolve() or not expected.is_dir():
        return  # the workflow carries no package of its own (e.g. used as a module): nothing to compare
    if source_hash(found) != source_hash(expected):
        raise InstallationError(
            f"this job imported minarch from {found}, not from the workflow's checkout {checkout}; run "
            f"`pip install -e .` in {checkout} (or activate that checkout's environment)"
        )


def run_job(snakemake, main: Callable) -> None:
    """Run a Snakemake script's ``main`` as the whole job process: logging to the rule's log,
    one line for known failures, and on success a quick exit (see ``_exit_done``)."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    started = time.perf_counter()
    try:
        if getattr(snakemake, "scriptdir", None):  # always set by Snakemake's script directive
            check_checkout(snakemake.scriptdir)
        main(snakemake)
    except (DataError, ConfigError, CheckpointError, InstallationError, OutputError) as error:
        log.error("%s", error)
        sys.exit(1)
    except Exception as error:
        if disk_full(error):  # written outside minarch.io.atomic_path (which names the file itself)
            where = getattr(error, "filename", None)
            log.error("disk full%s: free space and rerun", f" while writing {where}" if where else "")
            sys.exit(1)
        log.exception("job failed")
        raise
    log.info("done in %.1f s", time.perf_counter() - started)
    _exit_done()


def _exit_done() -> None:
    """Exit with status 0 without the interpreter's teardown: with torch and pandas loaded it
    takes 0.4-0.7 s, 10-20% of a small job. Every output is already complete on disk (written
    to a temporary name and renamed), so only the log needs flushing."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def setup_torch(threads: int) -> None:
    """The job's torch threads, and denormal floats flushed to zero: from the second epoch of a
    width-1000 MLP, Adam's second moments and some gradients fall below 1e-38, and arithmetic
    on such subnormal numbers is microcoded on x86 (MNIST L4eee w1000 on one thread: 24.5 s
    per epoch instead of 13 s, the same test accuracy to 0.01 pp). Flushing changes only values
    below 1.2e-38. The flag is per thread; with one torch thread per job it covers all the
    arithmetic."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    torch.set_flush_denormal(True)
