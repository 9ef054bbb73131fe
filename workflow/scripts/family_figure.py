"""Convergence, pruning and quantization panels of one family (paper Figs. 3-5), with
bootstrap intervals of each curve's smallest stable width and safe pruning ratio."""

from minarch.confidence import curve_intervals
from minarch.io import read_parquet
from minarch.jobs import log, run_job
from minarch.origin import check_code
from minarch.plots import family_figure
from minarch.regimes import Thresholds, finals, summarize


def main(job):
    thresholds, settings = Thresholds(**job.params.thresholds), job.params.table1
    train, prune_rows, qat_rows = (read_parquet(getattr(job.input, stage)) for stage in ("train", "prune", "qat"))
    check_code({"train": train, "prune": prune_rows, "qat": qat_rows}).log(log)  # a figure cannot say it: its log does
    final_rows = finals(train)
    regimes = summarize(final_rows, thresholds)
    intervals = curve_intervals(
        final_rows,
        prune_rows,
        regimes,
        thresholds,
        settings["prune_tolerance"],
        settings["bootstrap_resamples"],
        settings["confidence"],
        settings["bootstrap_seed"],
    )
    family_figure(job.params.arch, regimes, prune_rows, qat_rows, job.output.figure, intervals)


run_job(snakemake, main)  # noqa: F821
