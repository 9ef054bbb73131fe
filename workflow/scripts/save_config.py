"""The config of the last run that finished, saved with its results (results/config.yaml):
the report is rendered from it, whatever --configfile the report command gets."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

import yaml  # noqa: E402

from minarch.io import write_text  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402

HEADER = (
    "# The config of the last run that finished (written by the save_config rule once every other\n"
    "# output of rule all was made).\n"
)


def main(job):
    write_text(HEADER + yaml.safe_dump(dict(job.params.config), sort_keys=False), job.output.config)
    log.info("saved the run's config to %s", job.output.config)


run_job(snakemake, main)  # noqa: F821
