#!/bin/bash
# What a shorter schedule costs on the README's 2,000 photos (issue 22, 2026-12-05). Run from the repository
# root; ~75 min (the two seeds at once, 1 thread each: --threads 1 does not change the math).
set -e
W=/tmp/sched
# mydata: the first 200 photos of each class (as benchmarks/own_data.py --photos makes it); tune: files
# 2000-2299 of each class (3,000 photos: never in mydata, not own_data.py's held-out files 4000-4099)
python - <<'PY'
import shutil
from pathlib import Path
src, w = Path("../shared/data/cifar10/train"), Path("/tmp/sched")
for d in sorted(p for p in src.iterdir() if p.is_dir()):
    files = sorted(d.iterdir())
    for name, chosen in (("mydata", files[:200]), ("tune", files[2000:2300])):
        (w / name / d.name).mkdir(parents=True, exist_ok=True)
        for f in chosen:
            shutil.copyfile(f, w / name / d.name / f.name)
PY
block() {  # NAME SEED "teacher flags" "student flags" [TEACHER RUN to reuse]
  out=$W/$1-s$2; mkdir -p $out; teacher=${5:-$out/runs/teacher}
  [ -n "$5" ] || deit train --data $W/mydata --val-split 0.1 --model resnet8_cifar --output $out/runs/teacher \
      --seed $2 --threads 1 $3
  deit train --data $W/mydata --val-split 0.1 --model deit_micro_distilled_patch4_32 --teacher $teacher \
      --distillation-type hard --output $out/runs/student --seed $2 --threads 1 $4
}
for s in 0 1; do (  # the two seeds at once, one thread each
  block B $s "" ""                                                    # the auto recipe (the README block)
  block C $s "--batch-size 64 --epochs 50" "--batch-size 64 --epochs 54"  # both halved, same steps
  block D $s "" "--batch-size 64 --epochs 54" $W/B-s$s/runs/teacher   # student halved, auto teacher
  block M $s "" "--mixup 0.8 --cutmix 1.0" $W/B-s$s/runs/teacher      # the auto schedule, student mixed
) & done
wait
for run in $W/*-s*/runs/*; do deit eval --checkpoint $run --data $W/tune --json -j 0; done
