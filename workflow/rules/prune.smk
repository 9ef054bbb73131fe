for family, seeds, job in seed_jobs():

    rule:
        name:
            f"prune_{family}_seeds{seeds[0]}_{seeds[-1]}"
        input:
            dataset="resources/datasets/{dataset}.npz",
            model=per_seed(family, seeds, "model.pt"),
        output:
            prune=per_seed(family, seeds, "prune.parquet"),
        log:
            f"results/logs/prune/{job}.log",
        benchmark:
            f"results/benchmarks/prune/{job}.tsv"
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **device_resources(),
            mem_mb=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "prune")["mem_mb"],
            runtime=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "prune")["runtime"],
        params:
            arch=family,
            train=train_params(),
            prune=config["prune"],
        script:
            "../scripts/prune.py"
