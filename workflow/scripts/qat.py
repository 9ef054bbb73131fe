"""8-bit QAT of a block of seeds of one configuration, as one stack or one at a time as the
family's rule says for each quantization scope (``minarch.stages.stack_blocks``): one row
per scope, each evaluated as a real int8 model beside post-training quantization of the
trained float model."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.blockjob import BlockJob  # noqa: E402
from minarch.jobs import log, run_job, setup_torch  # noqa: E402


def main(job):
    block = BlockJob.from_snakemake(job, "qat", {"train": job.params.train, "qat": job.params.qat})
    pending = block.pending()
    log.info("%s: %d of %d seeds to quantise", block.record, len(pending), len(block.specs))
    if pending:  # torch is imported only when there is something to compute
        from minarch import models, records, stages
        from minarch.io import read_parquet, write_parquet
        from minarch.settings import QATSettings, TrainSettings, qat_scopes

        setup_torch(job.threads)
        train_settings = TrainSettings.from_dict(
            {**job.params.train, "threads": job.threads, "eval_batch_size": job.config["train"]["eval_batch_size"]}
        )
        settings = QATSettings.from_dict(job.params.qat)
        device = job.config["train"]["device"]
        splits = stages.splits_for(job.params.arch, job.input.dataset, train_settings, device)
        checkpoints = stages.checkpoint_dir(job.config, records.seed_file("qat", pending[0]))
        scopes = qat_scopes(job.params.arch, settings.scope)  # a scope that stacks stacks the job's seeds
        for stack in stages.stack_blocks(pending, device=splits.x_train.device, stage="qat", scopes=scopes):
            float_accs, float_models = [], []
            for spec in stack:
                block.check_upstream(spec)
                trained = read_parquet(records.seed_file("train", spec))
                float_accs.append(float(trained.loc[trained["kind"] == "final", "test_acc"].iloc[0]))
                if settings.mode == "finetune" or settings.ptq:  # fine-tuned, or quantized after training
                    model_path = records.seed_file("train", spec, "model.pt")
                    float_models.append(models.load_checked(model_path, spec.columns()))
            frames = stages.qat_block(
                stack, splits, train_settings, settings, float_accs, float_models or None, None, checkpoints
            )
            for spec, frame in zip(stack, frames):
                write_parquet(frame.assign(**block.columns(spec)), records.seed_file("qat", spec))
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
            stages.remove_checkpoints(checkpoints, "qat", stack)  # the stack's outputs are in place
    block.finish()


run_job(snakemake, main)  # noqa: F821
