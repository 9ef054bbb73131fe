for family, seeds, job in seed_jobs():

    rule:
        name:
            f"qat_{family}_seeds{seeds[0]}_{seeds[-1]}"
        input:
            dataset="resources/datasets/{dataset}.npz",
            train=per_seed(family, seeds, "train.parquet"),
            # only fine-tuning starts from the trained float weights
            **({"model": per_seed(family, seeds, "model.pt")} if config["qat"]["mode"] == "finetune" else {}),
        output:
            qat=per_seed(family, seeds, "qat.parquet"),
        params:
            arch=family,
            seeds=seeds,
            train=train_params(),
            qat=config["qat"],
        threads: config["train"]["threads"]
        resources:
            mem_mb=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "qat")["mem_mb"],
            runtime=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "qat")["runtime"],
            **device_resources(),
        log:
            f"results/logs/qat/{job}.log",
        benchmark:
            f"results/benchmarks/qat/{job}.tsv"
        conda:
            "../../envs/minarch.yaml"
        script:
            "../scripts/qat.py"
