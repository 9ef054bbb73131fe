"""Regime table over all families (DESIGN.md §2), with the code version of each row's runs
(``code_version``) and the thresholds it was made with (``regimes_*``)."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.io import atomic_path, read_parquets, write_html_table, write_parquet  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import AGGREGATE_CODE, check_code, made_by, settings_columns, with_code_column  # noqa: E402
from minarch.regimes import Thresholds, finals, summarize  # noqa: E402

CONFIGURATION = ["dataset", "arch", "topology", "width"]


def main(job):
    train = read_parquets(job.input.train)
    code = check_code({"train": train})
    code.log(log)
    final_rows = finals(train)
    table = summarize(final_rows, Thresholds(**job.params.thresholds))
    table = with_code_column(table, CONFIGURATION, final_rows).assign(
        **settings_columns("regimes", job.params.thresholds), **{AGGREGATE_CODE: job.params.code}
    )
    write_parquet(table, job.output.parquet)
    with atomic_path(job.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    write_html_table(table, job.output.html, "Regimes per configuration", [code.summary(), made_by("regimes")])
    log.info("%d configurations: %s", len(table), table["regime"].value_counts().to_dict())


run_job(snakemake, main)  # noqa: F821
