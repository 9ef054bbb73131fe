"""Prune-sweep a block of seeds of one configuration, one seed at a time: global L1 pruning at
each configured ratio, every pruned model evaluated on the test set."""

from minarch.warm import delegate

delegate()  # local.warm_workers: the rest runs in a fork of a process that imported it all (minarch.warm)

from minarch.blockjob import BlockJob  # noqa: E402
from minarch.jobs import log, run_job, setup_torch  # noqa: E402


def main(job):
    block = BlockJob.from_snakemake(job, "prune", {"train": job.params.train, "prune": job.params.prune})
    pending = block.pending()
    log.info("%s: %d of %d seeds to prune", block.record, len(pending), len(block.specs))
    if pending:  # torch is imported only when there is something to compute
        from minarch import models, records, stages
        from minarch.data import SPLITS
        from minarch.io import write_parquet
        from minarch.settings import PruneSettings, TrainSettings

        setup_torch(job.threads)
        train_settings = TrainSettings.from_dict(
            {**job.params.train, "threads": job.threads, "eval_batch_size": job.config["train"]["eval_batch_size"]}
        )
        settings = PruneSettings.from_dict(job.params.prune)
        device = job.config["train"]["device"]
        # the sweep evaluates on the test set; fine-tuning pruned models trains on the rest
        parts = SPLITS if settings.finetune_epochs > 0 else ("test",)
        splits = stages.splits_for(job.params.arch, job.input.dataset, train_settings, device, parts)
        for spec in pending:
            block.check_upstream(spec)
            model = models.load_checked(records.seed_file("train", spec, "model.pt"), spec.columns())
            [frame] = stages.prune_block([model], [spec], splits, train_settings, settings)
            write_parquet(frame.assign(**block.columns(spec)), records.seed_file("prune", spec))
            accuracies = " ".join(f"{r:.1f}:{a:.1f}" for r, a in zip(frame.ratio, frame.test_acc))
            log.info("%s: %s", spec.directory, accuracies)
    block.finish()


run_job(snakemake, main)  # noqa: F821
