"""Table I with the paper's published values beside ours."""

import pandas as pd

from minarch.io import atomic_path, read_parquets, write_html_table, write_text
from minarch.tables import table1, to_markdown
from minarch.workflow import log, run_job


def main(job):
    table = table1(pd.read_parquet(job.input.regimes), read_parquets(job.input.prune), read_parquets(job.input.qat),
                   prune_tolerance=job.params.prune_tolerance)
    with atomic_path(job.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    write_text(to_markdown(table), job.output.md)
    write_html_table(table, job.output.html, "Table I: ours beside the paper's")
    log.info("\n%s", to_markdown(table))


run_job(snakemake, main)  # noqa: F821
