"""Paper Fig. 2b: test accuracy vs parameters for every DNN topology, one panel per depth."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.io import read_parquet  # noqa: E402
from minarch.jobs import run_job  # noqa: E402
from minarch.plots import topology_figure  # noqa: E402


def main(job):
    topology_figure(read_parquet(job.input.table), job.output.figure)


run_job(snakemake, main)  # noqa: F821
