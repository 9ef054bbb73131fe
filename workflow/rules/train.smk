# One rule per (family, block of seeds): a job trains its seeds in one process (torch's
# import alone costs seconds) while every seed keeps its own files.
for family, seeds, job in seed_jobs():

    rule:
        name:
            f"train_{family}_seeds{seeds[0]}_{seeds[-1]}"
        input:
            dataset="resources/datasets/{dataset}.npz",
        output:
            model=per_seed(family, seeds, "model.pt"),
            train=per_seed(family, seeds, "train.parquet"),
        log:
            f"results/logs/train/{job}.log",
        benchmark:
            f"results/benchmarks/train/{job}.tsv"
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **device_resources(),
            mem_mb=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "train")["mem_mb"],
            runtime=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "train")["runtime"],
        params:
            arch=family,
            seeds=seeds,
            train=train_params(),
        script:
            "../scripts/train.py"
