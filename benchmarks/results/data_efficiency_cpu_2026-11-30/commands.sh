# train_n10_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/teacher --eval-interval 62 --save-interval 62 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 250 --threads 1 --model resnet8_cifar --seed 0
# train_n25_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/teacher --eval-interval 25 --save-interval 25 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 100 --threads 1 --model resnet8_cifar --seed 0
# eval_val_n10_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_val_n25_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n10_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# eval_train_n25_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/teacher --eval-interval 12 --save-interval 12 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 50 --threads 1 --model resnet8_cifar --seed 0
# train_n10_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_s0 --eval-interval 62 --save-interval 62 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 250 --threads 1 --model deit_micro_patch4_32 --seed 0 --distillation-type none
# eval_val_n50_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s0 --eval-interval 62 --save-interval 62 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 250 --threads 1 --model deit_micro_patch4_32 --seed 0 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n10_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/control_s0 --eval-interval 62 --save-interval 62 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 250 --threads 1 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n10_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_s1 --eval-interval 62 --save-interval 62 --log-interval 100000 --device cpu --workers 1 --data-cache memory --epochs 250 --threads 1 --model deit_micro_patch4_32 --seed 1 --distillation-type none
# train_n10_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/teacher --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 1000 --eval-interval 250 --save-interval 250 --model resnet8_cifar --seed 0
# train_n25_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/teacher --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 400 --eval-interval 100 --save-interval 100 --model resnet8_cifar --seed 0
# eval_val_n25_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_val_n10_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n25_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/teacher --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 50 --save-interval 50 --model resnet8_cifar --seed 0
# eval_train_n10_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# eval_val_n10_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/control_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/control_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n10_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n10_control_s0 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/control_s0/last.pt --max-images 1000
# train_n10_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_patch4_32 --seed 1 --distillation-type none --resume
# eval_val_n10_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_patch4_32 --seed 1 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n50_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_patch4_32 --seed 2 --distillation-type none
# eval_val_n10_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_patch4_32 --seed 2 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n10_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/none_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_patch4_32 --seed 0 --distillation-type none
# eval_val_n10_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/none_mix_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_patch4_32 --seed 0 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n25_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/control_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n25_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/none_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_patch4_32 --seed 1 --distillation-type none
# eval_val_n25_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/control_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/control_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n25_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n25_control_s0 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/control_s0/last.pt --max-images 1000
# train_n25_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_patch4_32 --seed 1 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n25_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/none_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_patch4_32 --seed 2 --distillation-type none
# eval_val_n25_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_patch4_32 --seed 2 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n25_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/none_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_patch4_32 --seed 0 --distillation-type none
# eval_val_n25_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/none_mix_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_patch4_32 --seed 0 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n50_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/control_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n50_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_none_mix_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/none_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_patch4_32 --seed 1 --distillation-type none
# eval_val_n50_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/control_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/control_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n50_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n50_control_s0 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/control_s0/last.pt --max-images 1000
# train_n50_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_patch4_32 --seed 1 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n50_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/none_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_patch4_32 --seed 2 --distillation-type none
# eval_val_n50_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_none_mix_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_patch4_32 --seed 2 --distillation-type none --mixup 0.8 --cutmix 1.0
# eval_val_n50_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/soft_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt
# eval_val_n50_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_none_mix_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/none_mix_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/hard_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt
# eval_val_n10_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/soft_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/soft_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/soft_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt
# eval_val_n10_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n10_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n10_hard_s0 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s0/last.pt --max-images 1000
# train_n10_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/hard_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt
# eval_val_n10_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/soft_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/soft_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n10_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/soft_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt
# eval_val_n10_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n10_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n10_hard_s1 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s1/last.pt --max-images 1000
# train_n10_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n10 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n10/hard_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 250 --eval-interval 62 --save-interval 62 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n10/teacher/last.pt
# eval_val_n10_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/soft_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/soft_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/soft_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt
# eval_val_n10_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json
# eval_train_n10_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n10_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n10 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n10_hard_s2 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n10/hard_s2/last.pt --max-images 1000
# train_n25_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/hard_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt
# eval_val_n25_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/soft_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/soft_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/soft_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt
# eval_val_n25_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n25_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n25_hard_s0 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s0/last.pt --max-images 1000
# train_n25_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/hard_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt
# eval_val_n25_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/soft_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/soft_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n25_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/soft_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt
# eval_val_n25_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n25_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n25_hard_s1 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s1/last.pt --max-images 1000
# train_n25_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n25 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n25/hard_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 100 --eval-interval 25 --save-interval 25 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n25/teacher/last.pt
# eval_val_n25_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/soft_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/soft_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/soft_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt
# eval_val_n25_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json
# eval_train_n25_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n25_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n25 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n25_hard_s2 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n25/hard_s2/last.pt --max-images 1000
# train_n50_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/hard_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt
# eval_val_n50_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/soft_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/soft_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/soft_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt
# eval_val_n50_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s0/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n50_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n50_hard_s0 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s0/last.pt --max-images 1000
# eval_val_n50_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/soft_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# train_n50_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/hard_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt
# eval_train_n50_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/soft_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# train_n50_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/soft_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type soft --teacher-model /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt
# eval_val_n50_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s1/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n50_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n50_hard_s1 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s1/last.pt --max-images 1000
# eval_val_n50_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/soft_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# train_n50_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/main/runs/data_efficiency_cpu/split/n50 --img-size 32 --output /work/main/runs/data_efficiency_cpu/runs/n50/hard_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 50 --eval-interval 12 --save-interval 12 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type hard --teacher-model /work/main/runs/data_efficiency_cpu/runs/n50/teacher/last.pt
# eval_train_n50_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/soft_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# eval_val_n50_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json
# eval_train_n50_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s2/last.pt --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n50_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/main/runs/data_efficiency_cpu/split/n50 --device cpu -j 1 --json --out /work/main/runs/data_efficiency_cpu/analysis/tokens_n50_hard_s2 --checkpoint /work/main/runs/data_efficiency_cpu/runs/n50/hard_s2/last.pt --max-images 1000
