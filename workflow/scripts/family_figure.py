"""Convergence, pruning and quantization panels of one family (paper Figs. 3-5), with
bootstrap intervals of each curve's smallest stable width and safe pruning ratio."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.confidence import curve_intervals  # noqa: E402
from minarch.io import read_parquet  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import check_code  # noqa: E402
from minarch.plots import family_figure  # noqa: E402
from minarch.regimes import Thresholds, finals, summarize  # noqa: E402


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
