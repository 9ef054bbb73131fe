"""Convergence, pruning and quantization panels of one family (paper Figs. 3-5)."""

import pandas as pd

from minarch.plots import family_figure
from minarch.regimes import Thresholds, finals, summarize
from minarch.workflow import run_job


def main(job):
    regimes = summarize(finals(pd.read_parquet(job.input.train)), Thresholds(**job.params.thresholds))
    family_figure(job.params.arch, regimes, pd.read_parquet(job.input.prune), pd.read_parquet(job.input.qat),
                  job.output.figure)


run_job(snakemake, main)  # noqa: F821
