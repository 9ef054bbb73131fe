# One job per seed (stable rule names train_dnn, train_cnn, train_vit): the seed comes from the
# path, every seed keeps its own files, and adding seeds trains only the new ones.
for family in ARCHS:

    rule:
        name:
            f"train_{family}"
        input:
            dataset="resources/datasets/{dataset}.npz",
        output:
            model=run_file(family, "model.pt"),
            train=run_file(family, "train.parquet"),
        log:
            job_file(family, "logs/train", ".log"),
        benchmark:
            job_file(family, "benchmarks/train", ".tsv")
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **stage_resources(family, "train"),
        params:
            arch=family,
            train=train_params(),
            code=code_version("train"),
        script:
            "../scripts/train.py"
