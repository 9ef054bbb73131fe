"""Convergence, pruning and quantization panels of one family (paper Figs. 3-5), with
bootstrap intervals of each curve's smallest stable width and safe pruning ratio."""

from minarch.confidence import curve_intervals
from minarch.io import read_parquet
from minarch.jobs import run_job
from minarch.plots import family_figure
from minarch.regimes import Thresholds, finals, summarize


def main(job):
    thresholds, settings = Thresholds(**job.params.thresholds), job.params.table1
    final_rows = finals(read_parquet(job.input.train))
    regimes, prune_rows = summarize(final_rows, thresholds), read_parquet(job.input.prune)
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
    family_figure(job.params.arch, regimes, prune_rows, read_parquet(job.input.qat), job.output.figure, intervals)


run_job(snakemake, main)  # noqa: F821
