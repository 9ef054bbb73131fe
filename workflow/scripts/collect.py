"""One Parquet table per family and stage, from the per-seed files."""

from minarch.io import read_parquets, write_parquet
from minarch.jobs import log, run_job
from minarch.origin import check_code


def main(job):
    frame = read_parquets(job.input.runs)
    code = check_code({job.wildcards.stage: frame})
    if code.warning():
        log.warning("%s", code.warning())
    write_parquet(frame, job.output.table)
    log.info("%d rows from %d runs; %s", len(frame), len(job.input.runs), code.summary())


run_job(snakemake, main)  # noqa: F821
