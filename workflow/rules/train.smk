# One job per block of seeds of a configuration (rules train_dnn, train_cnn, train_vit): the
# seeds come from the path (seeds{first}-{last}), each seed keeps its own files, and the block's
# record is the job's output (minarch.records).
for family in ARCHS:

    rule:
        name:
            f"train_{family}"
        input:
            dataset="resources/datasets/{dataset}.version",  # the cache beside it, by content (data.smk)
        output:
            block=block_file(family, "train"),
        log:
            job_file(family, "logs/train", ".log"),
        benchmark:
            job_file(family, "benchmarks/train", ".tsv")
        priority: stage_priority(family, "train")
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **stage_resources(family, "train"),
        params:
            arch=family,
            train=train_params(),
            code=CODE["train"],
            data=data_version,
        script:
            "../scripts/train.py"
