"""Paper Fig. 2b: test accuracy vs parameters for every DNN topology, one panel per depth."""

from minarch.io import read_parquet
from minarch.jobs import run_job
from minarch.plots import topology_figure


def main(job):
    topology_figure(read_parquet(job.input.table), job.output.figure)


run_job(snakemake, main)  # noqa: F821
