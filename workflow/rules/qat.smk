# One job per seed. Only fine-tuning (qat.mode: finetune) starts from the trained float
# weights, so only then is model.pt an input; train.parquet gives the float accuracy.
for family in ARCHS:

    rule:
        name:
            f"qat_{family}"
        input:
            **({"model": run_file(family, "model.pt")} if config["qat"]["mode"] == "finetune" else {}),
            dataset="resources/datasets/{dataset}.npz",
            train=run_file(family, "train.parquet"),
        output:
            qat=run_file(family, "qat.parquet"),
        log:
            job_file(family, "logs/qat", ".log"),
        benchmark:
            job_file(family, "benchmarks/qat", ".tsv")
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **stage_resources(family, "qat"),
        params:
            arch=family,
            train=train_params(),
            code=code_version("qat"),
            qat=config["qat"],
        script:
            "../scripts/qat.py"
