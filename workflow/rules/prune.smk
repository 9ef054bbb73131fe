# One job per block of seeds: each seed's trained model under every pruning ratio.
for family in ARCHS:

    rule:
        name:
            f"prune_{family}"
        input:
            dataset="resources/datasets/{dataset}.version",  # the cache beside it, by content (data.smk)
            train=trained_blocks(family),
        output:
            block=block_file(family, "prune"),
        log:
            job_file(family, "logs/prune", ".log"),
        benchmark:
            job_file(family, "benchmarks/prune", ".tsv")
        priority: stage_priority(family, "prune")
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **stage_resources(family, "prune"),
        params:
            arch=family,
            train=train_params(),
            prune=config["prune"],
            code=CODE["prune"],
            data=data_version,
        script:
            "../scripts/prune.py"
