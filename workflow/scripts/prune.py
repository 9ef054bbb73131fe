"""Prune-sweep one seed's model: global L1 pruning at each configured ratio, every pruned
model evaluated on the test set."""

from minarch import models, stages
from minarch.io import write_parquet
from minarch.jobs import log, run_job, setup_torch
from minarch.settings import PruneSettings, RunSpec, TrainSettings


def main(job):
    setup_torch(job.threads)
    train_settings = TrainSettings.from_dict({**job.params.train, "threads": job.threads})
    settings = PruneSettings.from_dict(job.params.prune)
    splits = stages.splits_for(job.params.arch, job.input.dataset, train_settings, job.config["train"]["device"])
    model, saved = models.load(job.input.model)
    spec = RunSpec(**saved)
    [frame] = stages.prune_block([model], [spec], splits, train_settings, settings)
    write_parquet(frame, job.output.prune)
    log.info("%s: %s", spec.directory, " ".join(f"{r:.1f}:{a:.1f}" for r, a in zip(frame.ratio, frame.test_acc)))


run_job(snakemake, main)  # noqa: F821
