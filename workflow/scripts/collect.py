"""One Parquet table per family and stage, from the per-seed files its block records list
(each checked against the stamp its record holds)."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.io import write_parquet  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import check_code  # noqa: E402
from minarch.records import collect_rows  # noqa: E402


def main(job):
    frame = collect_rows(job.input.records, job.wildcards.stage, int(job.params.seeds))
    check_code({job.wildcards.stage: frame}).log(log)
    write_parquet(frame, job.output.table)
    log.info("%d rows from %d block records", len(frame), len(job.input.records))


run_job(snakemake, main)  # noqa: F821
