"""Verified uint8 cache of one dataset, from the mirror folder or the official download. The
mirror comes from the config, not from the rule's parameters: its path changes no result."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from pathlib import Path  # noqa: E402

from minarch.data import prepare  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402


def main(job):
    mirror = (job.config.get("data") or {}).get("mirror")
    log.info(prepare(job.wildcards.dataset, Path(job.output.dataset), mirror=mirror))
    log.info("content version %s", job.params.version)


run_job(snakemake, main)  # noqa: F821
