"""Each quantitative claim of the paper beside our measured value (Markdown and HTML), with
the code versions its rows come from."""

import pandas as pd

from minarch.comparison import comparison_table, paper_comparison
from minarch.io import read_parquet, read_parquets, write_html_table, write_text
from minarch.jobs import log, run_job
from minarch.origin import check_code, made_by


def main(job):
    inputs = (
        read_parquet(job.input.regimes),
        pd.read_csv(job.input.table1),
        read_parquets(job.input.prune),
        read_parquets(job.input.qat),
        pd.read_csv(job.input.invariance) if "invariance" in job.input.keys() else None,
    )
    code = check_code({"train": read_parquets(job.input.train), "prune": inputs[2], "qat": inputs[3]})
    code.log(log)
    table1 = inputs[1]
    markdown = paper_comparison(*inputs, intervals=table1, prune_tolerance=job.params.prune_tolerance)
    write_text(f"{markdown.rstrip()}\n\n{code.summary()} {made_by('paper_comparison')}\n", job.output.md)
    table = comparison_table(*inputs, intervals=table1, prune_tolerance=job.params.prune_tolerance)
    notes = [code.summary(), made_by("paper_comparison")]
    write_html_table(table, job.output.html, "The paper's claims beside our measurements", notes)
    log.info("%s", table["verdict"].value_counts().to_dict())


run_job(snakemake, main)  # noqa: F821
