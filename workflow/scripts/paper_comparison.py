"""Each quantitative claim of the paper beside our measured value (Markdown and HTML)."""

import pandas as pd

from minarch.comparison import comparison_table, paper_comparison
from minarch.io import read_parquet, read_parquets, write_html_table, write_text
from minarch.jobs import log, run_job, warn_mixed_code
from minarch.tables import headline_qat_rows


def main(job):
    inputs = (
        read_parquet(job.input.regimes),
        pd.read_csv(job.input.table1),
        read_parquets(job.input.prune),
        headline_qat_rows(read_parquets(job.input.qat)),  # the gaps of one scope per configuration
        pd.read_csv(job.input.invariance) if "invariance" in job.input.keys() else None,
    )
    warn_mixed_code(inputs[2], inputs[3])
    table1 = inputs[1]
    markdown = paper_comparison(*inputs, intervals=table1, prune_tolerance=job.params.prune_tolerance)
    write_text(markdown, job.output.md)
    table = comparison_table(*inputs, intervals=table1, prune_tolerance=job.params.prune_tolerance)
    write_html_table(table, job.output.html, "The paper's claims beside our measurements")
    log.info("%s", table["verdict"].value_counts().to_dict())


run_job(snakemake, main)  # noqa: F821
