"""Table I with bootstrap confidence intervals and the paper's published values beside ours,
the code versions of each row's runs (``code_version``) and the settings it was made with
(``regimes_*``, ``table1_*``)."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.confidence import table1_intervals  # noqa: E402
from minarch.io import atomic_path, read_parquet, read_parquets, write_html_table, write_text  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import AGGREGATE_CODE, check_code, made_by, settings_columns, with_code_column  # noqa: E402
from minarch.regimes import Thresholds, finals  # noqa: E402
from minarch.tables import headline_qat_rows, table1, to_markdown  # noqa: E402


def main(job):
    settings = job.params.table1
    train, prune, qat = (read_parquets(getattr(job.input, stage)) for stage in ("train", "prune", "qat"))
    code = check_code({"train": train, "prune": prune, "qat": qat})
    code.log(log)
    table = table1(read_parquet(job.input.regimes), prune, qat, prune_tolerance=settings["prune_tolerance"])
    intervals = table1_intervals(
        finals(train),
        prune,
        headline_qat_rows(qat),  # one scope per configuration: the gap's interval is of Table I's gap
        table,
        Thresholds(**job.params.thresholds),
        settings["prune_tolerance"],
        settings["bootstrap_resamples"],
        settings["confidence"],
        settings["bootstrap_seed"],
    )
    table = table.merge(intervals, on=["dataset", "arch"], how="left")
    table = with_code_column(table, ["dataset", "arch"], train, prune, qat).assign(
        **settings_columns("regimes", job.params.thresholds),
        **settings_columns("table1", settings),
        **{AGGREGATE_CODE: job.params.code},
    )
    with atomic_path(job.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    write_text(f"{to_markdown(table)}\n{code.summary()} {made_by('table1')}\n", job.output.md)
    write_html_table(table, job.output.html, "Table I: ours beside the paper's", [code.summary(), made_by("table1")])
    log.info("\n%s", to_markdown(table))


run_job(snakemake, main)  # noqa: F821
