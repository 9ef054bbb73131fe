"""Train a block of seeds of one configuration (the seeds come from the job's path), as one
stack or one at a time as the family's rule says (``minarch.stages.stack_blocks``); seeds
already finished with the same settings, code and data are skipped."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.blockjob import BlockJob  # noqa: E402
from minarch.jobs import log, run_job, setup_torch  # noqa: E402


def main(job):
    block = BlockJob.from_snakemake(job, "train", {"train": job.params.train})
    pending = block.pending()
    log.info("%s: %d of %d seeds to train", block.record, len(pending), len(block.specs))
    if pending:  # torch is imported only when there is something to compute
        from minarch import models, records, stages
        from minarch.io import write_parquet
        from minarch.settings import TrainSettings

        setup_torch(job.threads)
        settings = TrainSettings.from_dict(
            {**job.params.train, "threads": job.threads, "eval_batch_size": job.config["train"]["eval_batch_size"]}
        )
        splits = stages.splits_for(job.params.arch, job.input.dataset, settings, job.config["train"]["device"])
        checkpoints = stages.checkpoint_dir(job.config, records.seed_file("train", pending[0]))
        for stack in stages.stack_blocks(pending, device=splits.x_train.device):
            trained = stages.train_block(stack, splits, settings, checkpoint_dir=checkpoints)
            for spec, (model, frame) in zip(stack, trained):
                model_path = records.seed_file("train", spec, "model.pt")
                models.save(model_path, model, spec.columns(), splits.image_shape)
                frame = frame.assign(**block.columns(spec), **{records.MODEL_SHA256: records.file_sha256(model_path)})
                write_parquet(frame, records.seed_file("train", spec))
                final = frame[frame["kind"] == "final"].iloc[0]
                log.info("%s: test %.2f%% (best epoch %d)", spec.directory, final["test_acc"], final["epoch"])
            stages.remove_checkpoints(checkpoints, "train", stack)  # the stack's outputs are in place
    block.finish()


run_job(snakemake, main)  # noqa: F821
