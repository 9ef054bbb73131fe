"""Prune-sweep every seed of a block: global L1 pruning at each configured ratio, every
(seed, ratio) pruned model evaluated in a few stacked passes."""

from minarch import models, stages
from minarch.io import write_parquet
from minarch.jobs import log, run_job, setup_torch
from minarch.settings import PruneSettings, RunSpec, TrainSettings


def main(job):
    setup_torch(job.threads)
    train_settings = TrainSettings.from_dict({**job.params.train, "threads": job.threads})
    settings = PruneSettings.from_dict(job.params.prune)
    splits = stages.splits_for(job.params.arch, job.input.dataset, train_settings, job.config["train"]["device"])
    loaded = [models.load(path) for path in job.input.model]
    specs = [RunSpec(**saved) for _, saved in loaded]
    frames = stages.prune_block([model for model, _ in loaded], specs, splits, train_settings, settings)
    for spec, frame, prune_path in zip(specs, frames, job.output.prune):
        write_parquet(frame, prune_path)
        log.info("%s: %s", spec.directory, " ".join(f"{r:.1f}:{a:.1f}" for r, a in zip(frame.ratio, frame.test_acc)))


run_job(snakemake, main)  # noqa: F821
