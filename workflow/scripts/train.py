"""Train a block of seeds of one configuration in one process; every seed keeps its own files."""

from minarch import models, stages
from minarch.io import write_parquet
from minarch.jobs import log, run_job, setup_torch
from minarch.settings import RunSpec, TrainSettings


def main(job):
    setup_torch(job.threads)
    settings = TrainSettings.from_dict({**job.params.train, "threads": job.threads})
    splits = stages.splits_for(job.params.arch, job.input.dataset, settings, job.config["train"]["device"])
    w = job.wildcards
    specs = [RunSpec(w.dataset, job.params.arch, w.topology, int(w.width), seed) for seed in job.params.seeds]
    stack_max_width = job.config["train"]["stack_max_width"]
    checkpoints = stages.checkpoint_dir(job.config, job.output.model[0])
    trained = stages.train_block(specs, splits, settings, stack_max_width, checkpoints)
    for spec, (model, frame), model_path, train_path in zip(specs, trained, job.output.model, job.output.train):
        models.save(model_path, model, spec.columns(), splits.image_shape)
        write_parquet(frame, train_path)
        final = frame[frame["kind"] == "final"].iloc[0]
        log.info("%s: test %.2f%% (best epoch %d)", spec.directory, final["test_acc"], final["epoch"])
    stages.remove_checkpoints(checkpoints, "train", specs, stack_max_width)  # every output is in place


run_job(snakemake, main)  # noqa: F821
