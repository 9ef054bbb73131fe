"""One Parquet table per family and stage, from the per-seed files."""

from minarch.io import read_parquets, write_parquet
from minarch.jobs import log, run_job
from minarch.origin import check_code


def main(job):
    frame = read_parquets(job.input.runs)
    check_code({job.wildcards.stage: frame}).log(log)
    write_parquet(frame, job.output.table)
    log.info("%d rows from %d runs", len(frame), len(job.input.runs))


run_job(snakemake, main)  # noqa: F821
