# One job per block of seeds. The train records give each seed's float accuracy, and its
# trained weights when QAT fine-tunes them (qat.mode: finetune).
for family in ARCHS:

    rule:
        name:
            f"qat_{family}"
        input:
            dataset="resources/datasets/{dataset}.npz",
            train=trained_blocks(family),
        output:
            block=block_file(family, "qat"),
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
            qat=config["qat"],
            code=CODE["qat"],
        script:
            "../scripts/qat.py"
