"""One Snakemake job of a block of seeds: which of its seeds still need work, the stamp each
seed's rows carry, and the block's record once every seed is in place (``minarch.records``).

The job's scripts (``workflow/scripts/{train,prune,qat}.py``) run ``pending()`` one seed at a
time or as one stack, as the configuration's family says (``minarch.stages.stack_blocks``), so
a seed's results are those of the same computation whatever its block-mates and the block's
size (bit-identical on one machine); a seed finished before the job was killed is not run
again, and a stack killed mid-way resumes from its last epoch's checkpoint. Torch-free: a job
whose seeds are all finished never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minarch import provenance, records
from minarch.settings import RunSpec


@dataclass
class BlockJob:
    stage: str
    specs: list[RunSpec]
    settings: dict[str, Any]  # what the stamp covers: the stage's result-changing settings
    code: str
    data: str
    record: str
    upstream: dict[int, str] = field(default_factory=dict)  # seed -> its trained run (prune, QAT)

    @classmethod
    def from_snakemake(cls, job, stage: str, settings: dict[str, Any]) -> BlockJob:
        """The block of a job whose wildcards name a configuration and its seeds ``first``-``last``."""
        w = job.wildcards
        specs = [
            RunSpec(w.dataset, job.params.arch, w.topology, int(w.width), seed)
            for seed in range(int(w.first), int(w.last) + 1)
        ]
        upstream = records.upstream_stamps(job.input.train) if stage != "train" else {}
        return cls(
            stage,
            specs,
            settings,
            provenance.code_version(stage),
            records.dataset_version(job.input.dataset),
            job.output.block,
            upstream,
        )

    def stamp(self, spec: RunSpec) -> str:
        upstream = None
        if self.stage != "train":
            if spec.seed not in self.upstream:
                raise records.CheckpointError(
                    f"no trained model of seed {spec.seed} is recorded for {spec.directory.parent}; rerun the workflow"
                )
            upstream = self.upstream[spec.seed]
        return records.stamp(self.stage, spec, self.settings, self.code, self.data, upstream)

    def check_upstream(self, spec: RunSpec) -> None:
        """A prune or QAT seed starts from the trained files its train block recorded: a model or
        table replaced since (another seed's, a stale copy) is an error, not an input."""
        train_stamp = self.upstream.get(spec.seed, "").split(":")[0]
        if not records.finished("train", spec, train_stamp):
            raise records.CheckpointError(
                f"{spec.directory}: model.pt or train.parquet is not what its train block recorded (replaced or "
                "stale); delete both and rerun the workflow to retrain this seed"
            )

    def pending(self) -> list[RunSpec]:
        """The block's seeds whose files are not in place with this job's stamp."""
        return [spec for spec in self.specs if not records.finished(self.stage, spec, self.stamp(spec))]

    def columns(self, spec: RunSpec) -> dict[str, str]:
        """What every row of ``spec`` carries besides its results: the stamp and the code version."""
        return {records.STAMP: self.stamp(spec), "code_version": self.code}

    def finish(self) -> None:
        """Remove the block's checkpoints and write its record; every seed must be finished by
        now. Checkpoints go first: a job killed between the two leaves no checkpoint behind a
        record that Snakemake takes as done."""
        left = self.pending()
        if left:
            raise records.CheckpointError(
                f"{self.record}: seeds {', '.join(str(s.seed) for s in left)} did not finish; rerun the workflow"
            )
        folder = records.seed_file(self.stage, self.specs[0]).parent.parent  # the configuration's
        records.remove_checkpoints(folder, self.stage, self.specs[0].seed, self.specs[-1].seed)
        records.write_block_record(self.record, self.stage, {spec: self.stamp(spec) for spec in self.specs})
