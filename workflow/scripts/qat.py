"""8-bit QAT for every seed of a block (stacked as in training), evaluated as real int8 models."""

from minarch import models, stages
from minarch.io import read_parquet, write_parquet
from minarch.jobs import log, run_job, setup_torch
from minarch.settings import QATSettings, RunSpec, TrainSettings


def main(job):
    setup_torch(job.threads)
    train_settings = TrainSettings.from_dict({**job.params.train, "threads": job.threads})
    settings = QATSettings.from_dict(job.params.qat)
    splits = stages.splits_for(job.params.arch, job.input.dataset, train_settings, job.config["train"]["device"])
    w = job.wildcards
    specs = [RunSpec(w.dataset, job.params.arch, w.topology, int(w.width), seed) for seed in job.params.seeds]
    float_accs = []
    for train_path in job.input.train:
        trained = read_parquet(train_path)
        float_accs.append(float(trained.loc[trained["kind"] == "final", "test_acc"].iloc[0]))
    models_in = job.input.get("model", [])
    float_models = [models.load(path)[0] for path in models_in] if models_in else None
    stack_max_width = job.config["train"]["stack_max_width"]
    checkpoints = stages.checkpoint_dir(job.config, job.output.qat[0])
    frames = stages.qat_block(
        specs, splits, train_settings, settings, float_accs, float_models, stack_max_width, checkpoints
    )
    for spec, frame, qat_path in zip(specs, frames, job.output.qat):
        write_parquet(frame, qat_path)
        row = frame.iloc[0]
        log.info(
            "%s: float %.2f%% int8 %.2f%% gap %.2f pp",
            spec.directory,
            row.float_test_acc,
            row.int8_test_acc,
            row.gap_pp,
        )
    stages.remove_checkpoints(checkpoints, "qat", specs, stack_max_width)  # every output is in place


run_job(snakemake, main)  # noqa: F821
