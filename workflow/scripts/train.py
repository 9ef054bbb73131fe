"""Train one seed of one configuration (the seed comes from the job's path)."""

from minarch import models, stages
from minarch.io import write_parquet
from minarch.jobs import log, run_job, setup_torch
from minarch.settings import RunSpec, TrainSettings


def main(job):
    setup_torch(job.threads)
    settings = TrainSettings.from_dict({**job.params.train, "threads": job.threads})
    splits = stages.splits_for(job.params.arch, job.input.dataset, settings, job.config["train"]["device"])
    w = job.wildcards
    spec = RunSpec(w.dataset, job.params.arch, w.topology, int(w.width), int(w.seed))
    checkpoints = stages.checkpoint_dir(job.config, job.output.model)
    [(model, frame)] = stages.train_block([spec], splits, settings, checkpoint_dir=checkpoints)
    models.save(job.output.model, model, spec.columns(), splits.image_shape)
    write_parquet(frame, job.output.train)
    final = frame[frame["kind"] == "final"].iloc[0]
    log.info("%s: test %.2f%% (best epoch %d)", spec.directory, final["test_acc"], final["epoch"])
    stages.remove_checkpoints(checkpoints, "train", [spec])  # every output is in place


run_job(snakemake, main)  # noqa: F821
