"""Phase 1: the topology table and the shape-invariance table (paper Fig. 2b, Sec. III-A),
with the code versions of their rows' runs."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.io import atomic_path, read_parquet, write_html_table, write_parquet  # noqa: E402
from minarch.jobs import log, run_job  # noqa: E402
from minarch.origin import check_code, made_by, with_code_column  # noqa: E402
from minarch.phase1 import invariance, topology_table  # noqa: E402
from minarch.regimes import Thresholds, finals  # noqa: E402


def main(job):
    train = read_parquet(job.input.train)
    code = check_code({"train": train})
    code.log(log)
    table = topology_table(train, Thresholds(**job.params.thresholds))
    table = with_code_column(table, ["dataset", "arch", "topology", "width"], finals(train))
    write_parquet(table, job.output.table)
    spread = invariance(table, job.params.tolerance)
    with atomic_path(job.output.invariance) as tmp:
        spread.to_csv(tmp, index=False)
    write_html_table(
        spread,
        job.output.invariance_html,
        "Phase 1: spread between topologies per depth and decade",
        [code.summary(), made_by("topology_sweep")],
    )
    log.info("%d configurations; invariance per depth and decade:\n%s", len(table), spread.to_string(index=False))


run_job(snakemake, main)  # noqa: F821
