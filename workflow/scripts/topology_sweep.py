"""Phase 1: the topology table and the shape-invariance table (paper Fig. 2b, Sec. III-A)."""

from minarch.io import atomic_path, read_parquet, write_html_table, write_parquet
from minarch.jobs import log, run_job
from minarch.phase1 import invariance, topology_table
from minarch.regimes import Thresholds


def main(job):
    table = topology_table(read_parquet(job.input.train), Thresholds(**job.params.thresholds))
    write_parquet(table, job.output.table)
    spread = invariance(table, job.params.tolerance)
    with atomic_path(job.output.invariance) as tmp:
        spread.to_csv(tmp, index=False)
    write_html_table(spread, job.output.invariance_html, "Phase 1: spread between topologies per depth and decade")
    log.info("%d configurations; invariance per depth and decade:\n%s", len(table), spread.to_string(index=False))


run_job(snakemake, main)  # noqa: F821
