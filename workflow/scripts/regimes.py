"""Regime table over all families (DESIGN.md §2)."""

from minarch.io import atomic_path, read_parquets, write_html_table, write_parquet
from minarch.jobs import log, run_job, warn_mixed_code
from minarch.regimes import Thresholds, finals, summarize


def main(job):
    train = read_parquets(job.input.train)
    warn_mixed_code(train)
    table = summarize(finals(train), Thresholds(**job.params.thresholds))
    write_parquet(table, job.output.parquet)
    with atomic_path(job.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    write_html_table(table, job.output.html, "Regimes per configuration")
    log.info("%d configurations: %s", len(table), table["regime"].value_counts().to_dict())


run_job(snakemake, main)  # noqa: F821
