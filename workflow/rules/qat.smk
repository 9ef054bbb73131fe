# Only fine-tuning (qat.mode: finetune) starts from the trained float weights, so only then is
# model.pt an input.
for family, seeds, job in seed_jobs():

    rule:
        name:
            f"qat_{family}_seeds{seeds[0]}_{seeds[-1]}"
        input:
            **({"model": per_seed(family, seeds, "model.pt")} if config["qat"]["mode"] == "finetune" else {}),
            dataset="resources/datasets/{dataset}.npz",
            train=per_seed(family, seeds, "train.parquet"),
        output:
            qat=per_seed(family, seeds, "qat.parquet"),
        log:
            f"results/logs/qat/{job}.log",
        benchmark:
            f"results/benchmarks/qat/{job}.tsv"
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **device_resources(),
            mem_mb=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "qat")["mem_mb"],
            runtime=lambda wc, seeds=seeds: job_resources(wc.dataset, seeds, "qat")["runtime"],
        params:
            arch=family,
            seeds=seeds,
            train=train_params(),
            qat=config["qat"],
        script:
            "../scripts/qat.py"
