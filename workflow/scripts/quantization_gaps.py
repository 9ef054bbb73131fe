"""The 8-bit gap per configuration and quantization scope, QAT beside PTQ, with bootstrap
intervals over seeds (``minarch.confidence.gap_intervals``)."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.confidence import gap_intervals  # noqa: E402
from minarch.io import atomic_path, read_parquets, write_html_table, write_text  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import AGGREGATE_CODE, check_code, made_by, settings_columns  # noqa: E402
from minarch.regimes import Thresholds  # noqa: E402
from minarch.tables import gaps_to_markdown, with_scope  # noqa: E402


def main(job):
    settings = job.params.table1
    qat = read_parquets(job.input.qat)
    code = check_code({"qat": qat})
    code.log(log)
    gaps = gap_intervals(
        with_scope(qat),
        Thresholds(**job.params.thresholds),
        settings["bootstrap_resamples"],
        settings["confidence"],
        settings["bootstrap_seed"],
    )
    gaps = gaps.assign(**settings_columns("table1", settings), **{AGGREGATE_CODE: job.params.code})
    with atomic_path(job.output.csv) as tmp:
        gaps.to_csv(tmp, index=False)
    text = gaps_to_markdown(gaps)
    write_text(f"{text}\n{code.summary()} {made_by('quantization_gaps')}\n", job.output.md)
    notes = [code.summary(), made_by("quantization_gaps")]
    write_html_table(gaps, job.output.html, "8-bit gaps per configuration and quantization scope", notes)
    log.info("\n%s", text)


run_job(snakemake, main)  # noqa: F821
