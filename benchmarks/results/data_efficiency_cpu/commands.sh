# train_n100_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/teacher --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 300 --eval-interval 30 --save-interval 30 --mixup 0.8 --cutmix 1.0 --model resnet8_cifar --seed 0
# train_n100_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/none_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_patch4_32 --seed 0 --distillation-type none
# eval_val_n100_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/teacher/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_teacher
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/teacher/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# train_n100_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/control_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type none
# eval_val_n100_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/none_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_none_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/none_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# train_n100_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/none_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_patch4_32 --seed 1 --distillation-type none
# eval_val_n100_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/control_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/control_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n100_control_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/runs/de24/split/n100 --device cpu -j 1 --json --out /work/runs/de24/analysis/tokens_n100_control_s0 --checkpoint /work/runs/de24/runs/n100/control_s0/last.pt --max-images 1000
# train_n100_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/none_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_patch4_32 --seed 2 --distillation-type none
# eval_val_n100_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/none_s1/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_none_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/none_s1/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# train_n100_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/soft_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type soft --teacher-model /work/runs/de24/runs/n100/teacher/last.pt
# eval_val_n100_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/none_s2/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_none_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/none_s2/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# train_n100_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/hard_s0 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 0 --distillation-type hard --teacher-model /work/runs/de24/runs/n100/teacher/last.pt
# eval_val_n100_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/soft_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_soft_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/soft_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# train_n100_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/soft_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type soft --teacher-model /work/runs/de24/runs/n100/teacher/last.pt
# eval_val_n100_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/hard_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/hard_s0/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n100_hard_s0
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/runs/de24/split/n100 --device cpu -j 1 --json --out /work/runs/de24/analysis/tokens_n100_hard_s0 --checkpoint /work/runs/de24/runs/n100/hard_s0/last.pt --max-images 1000
# train_n100_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/hard_s1 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 1 --distillation-type hard --teacher-model /work/runs/de24/runs/n100/teacher/last.pt
# eval_val_n100_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/soft_s1/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_soft_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/soft_s1/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# train_n100_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/soft_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type soft --teacher-model /work/runs/de24/runs/n100/teacher/last.pt
# eval_val_n100_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/hard_s1/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/hard_s1/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n100_hard_s1
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/runs/de24/split/n100 --device cpu -j 1 --json --out /work/runs/de24/analysis/tokens_n100_hard_s1 --checkpoint /work/runs/de24/runs/n100/hard_s1/last.pt --max-images 1000
# train_n100_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit train --data /work/runs/de24/split/n100 --img-size 32 --output /work/runs/de24/runs/n100/hard_s2 --log-interval 100000 --device cpu --workers 1 --data-cache memory --threads 1 --epochs 200 --eval-interval 20 --save-interval 20 --mixup 0.8 --cutmix 1.0 --model deit_micro_distilled_patch4_32 --seed 2 --distillation-type hard --teacher-model /work/runs/de24/runs/n100/teacher/last.pt
# eval_val_n100_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/soft_s2/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_soft_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/soft_s2/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# eval_val_n100_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/hard_s2/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --json
# eval_train_n100_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit eval --checkpoint /work/runs/de24/runs/n100/hard_s2/last.pt --data /work/runs/de24/split/n100 --device cpu -j 1 --split train --val-split 0 --json
# tokens_n100_hard_s2
/root/.pyenv/versions/3.11.7/bin/python -m deit analyze tokens --data /work/runs/de24/split/n100 --device cpu -j 1 --json --out /work/runs/de24/analysis/tokens_n100_hard_s2 --checkpoint /work/runs/de24/runs/n100/hard_s2/last.pt --max-images 1000
