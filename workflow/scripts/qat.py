"""8-bit QAT of one seed, one row per quantization scope, evaluated as a real int8 model beside
post-training quantization of the float model (the seed comes from the job's path)."""

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
    spec = RunSpec(w.dataset, job.params.arch, w.topology, int(w.width), int(w.seed))
    trained = read_parquet(job.input.train)
    float_acc = float(trained.loc[trained["kind"] == "final", "test_acc"].iloc[0])
    float_models = [models.load(job.input.model)[0]] if "model" in job.input.keys() else None
    checkpoints = stages.checkpoint_dir(job.config, job.output.qat)
    [frame] = stages.qat_block([spec], splits, train_settings, settings, [float_acc], float_models, None, checkpoints)
    write_parquet(frame, job.output.qat)
    for row in frame.itertuples():
        log.info(
            "%s (%s): float %.2f%% int8 %.2f%% gap %.2f pp, PTQ gap %.2f pp",
            spec.directory,
            row.qat_scope,
            row.float_test_acc,
            row.int8_test_acc,
            row.gap_pp,
            row.ptq_gap_pp,
        )
    stages.remove_checkpoints(checkpoints, "qat", [spec])  # every output is in place


run_job(snakemake, main)  # noqa: F821
