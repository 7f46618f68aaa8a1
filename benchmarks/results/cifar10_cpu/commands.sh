# train_teacher
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/teacher --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model resnet20_cifar --epochs 15 --lr 0.016 --seed 0
# train_none_s0
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/none_s0 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_patch4_32 --epochs 8 --lr 0.008 --seed 0 --drop-path 0.0 --distillation-type none
# train_none_s1
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/none_s1 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_patch4_32 --epochs 8 --lr 0.008 --seed 1 --drop-path 0.0 --distillation-type none
# train_none_s2
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/none_s2 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_patch4_32 --epochs 8 --lr 0.008 --seed 2 --drop-path 0.0 --distillation-type none
# train_soft_s0
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/soft_s0 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_distilled_patch4_32 --epochs 8 --lr 0.008 --seed 0 --drop-path 0.0 --distillation-type soft --teacher-model /tmp/repro_cpu2/runs/teacher/last.pt --distillation-alpha 0.1 --distillation-tau 3.0
# train_hard_s0
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/hard_s0 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_distilled_patch4_32 --epochs 8 --lr 0.008 --seed 0 --drop-path 0.0 --distillation-type hard --teacher-model /tmp/repro_cpu2/runs/teacher/last.pt --distillation-alpha 0.5
# train_soft_s1
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/soft_s1 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_distilled_patch4_32 --epochs 8 --lr 0.008 --seed 1 --drop-path 0.0 --distillation-type soft --teacher-model /tmp/repro_cpu2/runs/teacher/last.pt --distillation-alpha 0.1 --distillation-tau 3.0
# train_hard_s1
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/hard_s1 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_distilled_patch4_32 --epochs 8 --lr 0.008 --seed 1 --drop-path 0.0 --distillation-type hard --teacher-model /tmp/repro_cpu2/runs/teacher/last.pt --distillation-alpha 0.5
# train_soft_s2
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/soft_s2 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_distilled_patch4_32 --epochs 8 --lr 0.008 --seed 2 --drop-path 0.0 --distillation-type soft --teacher-model /tmp/repro_cpu2/runs/teacher/last.pt --distillation-alpha 0.1 --distillation-tau 3.0
# train_hard_s2
/tmp/venvtest/bin/python -m deit train --data /tmp/repro_cpu2/split --img-size 32 --output /tmp/repro_cpu2/runs/hard_s2 --device cpu --workers 1 --batch-size 64 --weight-decay 0.05 --smoothing 0.1 --warmup-epochs 1 --min-lr 1e-05 --log-interval 10000 --eval-interval 1000 --save-interval 10000 --aa none --reprob 0.0 --mixup 0.0 --cutmix 0.0 --no-repeated-aug --model deit_micro_distilled_patch4_32 --epochs 8 --lr 0.008 --seed 2 --drop-path 0.0 --distillation-type hard --teacher-model /tmp/repro_cpu2/runs/teacher/last.pt --distillation-alpha 0.5
# eval_teacher
/tmp/venvtest/bin/python -m deit eval --checkpoint /tmp/repro_cpu2/runs/teacher/last.pt --data /tmp/repro_cpu2/split --device cpu -j 1 --json
# eval_none_s0
/tmp/venvtest/bin/python -m deit eval --checkpoint /tmp/repro_cpu2/runs/none_s0/last.pt --data /tmp/repro_cpu2/split --device cpu -j 1 --json
# eval_soft_s0
/tmp/venvtest/bin/python -m deit eval --checkpoint /tmp/repro_cpu2/runs/soft_s0/last.pt --data /tmp/repro_cpu2/split --device cpu -j 1 --json
# eval_hard_s0
/tmp/venvtest/bin/python -m deit eval --checkpoint /tmp/repro_cpu2/runs/hard_s0/last.pt --data /tmp/repro_cpu2/split --device cpu -j 1 --json
# tokens_soft_s0
/tmp/venvtest/bin/python -m deit analyze tokens --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/tokens_soft_s0 --checkpoint /tmp/repro_cpu2/runs/soft_s0/last.pt --max-images 1000
# tokens_hard_s0
/tmp/venvtest/bin/python -m deit analyze tokens --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/tokens_hard_s0 --checkpoint /tmp/repro_cpu2/runs/hard_s0/last.pt --max-images 1000
# agreement_s0
/tmp/venvtest/bin/python -m deit analyze agreement --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/agreement_s0 --checkpoints /tmp/repro_cpu2/runs/none_s0/last.pt /tmp/repro_cpu2/runs/soft_s0/last.pt /tmp/repro_cpu2/runs/hard_s0/last.pt --names none soft hard --teacher /tmp/repro_cpu2/runs/teacher/last.pt --max-images 1000
# tokens_soft_s1
/tmp/venvtest/bin/python -m deit analyze tokens --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/tokens_soft_s1 --checkpoint /tmp/repro_cpu2/runs/soft_s1/last.pt --max-images 1000
# tokens_hard_s1
/tmp/venvtest/bin/python -m deit analyze tokens --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/tokens_hard_s1 --checkpoint /tmp/repro_cpu2/runs/hard_s1/last.pt --max-images 1000
# agreement_s1
/tmp/venvtest/bin/python -m deit analyze agreement --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/agreement_s1 --checkpoints /tmp/repro_cpu2/runs/none_s1/last.pt /tmp/repro_cpu2/runs/soft_s1/last.pt /tmp/repro_cpu2/runs/hard_s1/last.pt --names none soft hard --teacher /tmp/repro_cpu2/runs/teacher/last.pt --max-images 1000
# tokens_soft_s2
/tmp/venvtest/bin/python -m deit analyze tokens --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/tokens_soft_s2 --checkpoint /tmp/repro_cpu2/runs/soft_s2/last.pt --max-images 1000
# tokens_hard_s2
/tmp/venvtest/bin/python -m deit analyze tokens --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/tokens_hard_s2 --checkpoint /tmp/repro_cpu2/runs/hard_s2/last.pt --max-images 1000
# agreement_s2
/tmp/venvtest/bin/python -m deit analyze agreement --data /tmp/repro_cpu2/split --device cpu -j 1 --json --out /tmp/repro_cpu2/analysis/agreement_s2 --checkpoints /tmp/repro_cpu2/runs/none_s2/last.pt /tmp/repro_cpu2/runs/soft_s2/last.pt /tmp/repro_cpu2/runs/hard_s2/last.pt --names none soft hard --teacher /tmp/repro_cpu2/runs/teacher/last.pt --max-images 1000
