"""Verified uint8 cache of one dataset, from the mirror folder or the official download."""

from pathlib import Path

from minarch.data import prepare
from minarch.jobs import log, run_job


def main(job):
    log.info(prepare(job.wildcards.dataset, Path(job.output.dataset), mirror=job.params.mirror))


run_job(snakemake, main)  # noqa: F821
