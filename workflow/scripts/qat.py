"""8-bit QAT for every seed of a block, evaluated as a real int8 model."""

import pandas as pd

from minarch import models, stages
from minarch.io import write_parquet
from minarch.settings import QATSettings, RunSpec, TrainSettings
from minarch.workflow import log, run_job, setup_torch


def main(job):
    setup_torch(job.threads)
    train_settings = TrainSettings.from_dict({**job.params.train, "threads": job.threads})
    settings = QATSettings.from_dict(job.params.qat)
    splits = stages.splits_for(job.params.arch, job.input.dataset, train_settings, job.config["train"]["device"])
    w = job.wildcards
    models_in = job.input.get("model", [None] * len(job.params.seeds))
    for seed, train_path, model_path, qat_path in zip(job.params.seeds, job.input.train, models_in, job.output.qat):
        spec = RunSpec(w.dataset, job.params.arch, w.topology, int(w.width), seed)
        trained = pd.read_parquet(train_path)
        float_acc = float(trained.loc[trained["kind"] == "final", "test_acc"].iloc[0])
        float_model = models.load(model_path)[0] if model_path else None
        frame = stages.qat_run(spec, splits, train_settings, settings, float_acc, float_model)
        write_parquet(frame, qat_path)
        row = frame.iloc[0]
        log.info("%s: float %.2f%% int8 %.2f%% gap %.2f pp", spec.directory, row.float_test_acc, row.int8_test_acc,
                 row.gap_pp)


run_job(snakemake, main)  # noqa: F821
