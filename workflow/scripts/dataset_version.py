"""The content version of a dataset cache, in the small file beside it that the stage rules
take as their input (workflow/rules/data.smk)."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.data import write_version  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402


def main(job):
    log.info(write_version(job.input.dataset, job.output.version, job.params.version))


run_job(snakemake, main)  # noqa: F821
