"""Paper Fig. 2b: test accuracy vs parameters for every DNN topology, one panel per depth."""

import pandas as pd

from minarch.plots import topology_figure
from minarch.workflow import run_job


def main(job):
    topology_figure(pd.read_parquet(job.input.table), job.output.figure)


run_job(snakemake, main)  # noqa: F821
