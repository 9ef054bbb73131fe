"""What every Snakemake script shares: log to the rule's log file, set torch threads, and turn
known failures into one clear line (and a non-zero exit) instead of a traceback."""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable

from minarch.config import ConfigError
from minarch.data import DataError
from minarch.io import CheckpointError

log = logging.getLogger("minarch")


def run_job(snakemake, main: Callable) -> None:
    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    started = time.perf_counter()
    try:
        main(snakemake)
    except (DataError, ConfigError, CheckpointError) as error:
        log.error("%s", error)
        sys.exit(1)
    except Exception:
        log.exception("job failed")
        raise
    log.info("done in %.1f s", time.perf_counter() - started)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))
