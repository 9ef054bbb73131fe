"""One Parquet table per family and stage, from the per-seed files its block records list
(each checked against the stamp its record holds)."""

from minarch.io import write_parquet
from minarch.jobs import log, run_job
from minarch.origin import check_code
from minarch.records import collect_rows


def main(job):
    frame = collect_rows(job.input.records, job.wildcards.stage, int(job.params.seeds))
    check_code({job.wildcards.stage: frame}).log(log)
    write_parquet(frame, job.output.table)
    log.info("%d rows from %d block records", len(frame), len(job.input.records))


run_job(snakemake, main)  # noqa: F821
