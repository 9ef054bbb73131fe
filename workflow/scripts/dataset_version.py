"""The content version of a dataset cache, in the small file beside it that the stage rules
take as their input (workflow/rules/data.smk)."""

from minarch.data import write_version
from minarch.jobs import log, run_job


def main(job):
    log.info(write_version(job.input.dataset, job.output.version, job.params.version))


run_job(snakemake, main)  # noqa: F821
