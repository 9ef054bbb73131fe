"""Each quantitative claim of the paper beside our measured value (Markdown and HTML), with
the code versions its rows come from."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

import pandas as pd  # noqa: E402

from minarch.comparison import Run, evaluate, markdown  # noqa: E402
from minarch.io import read_parquet, read_parquets, write_html_table, write_text  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import check_code, made_by  # noqa: E402
from minarch.tables import headline_qat_rows  # noqa: E402


def main(job):
    table1 = pd.read_csv(job.input.table1)
    prune = read_parquets(job.input.prune)
    qat = headline_qat_rows(read_parquets(job.input.qat))  # the gaps of one scope per configuration
    invariance = pd.read_csv(job.input.invariance) if "invariance" in job.input.keys() else None
    code = check_code({"train": read_parquets(job.input.train), "prune": prune, "qat": qat})
    code.log(log)
    run = Run(read_parquet(job.input.regimes), table1, prune, qat, invariance, table1, job.params.prune_tolerance)
    table = evaluate(run)  # once, for both files
    notes = [code.summary(), made_by("paper_comparison")]
    write_text(f"{markdown(run, table).rstrip()}\n\n{' '.join(notes)}\n", job.output.md)
    write_html_table(table, job.output.html, "The paper's claims beside our measurements", notes)
    log.info("%s", table["verdict"].value_counts().to_dict())


run_job(snakemake, main)  # noqa: F821
