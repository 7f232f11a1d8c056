#!/usr/bin/env bash
# What a session with a CUDA GPU runs for #12, in the order of what matters most, each part under a time limit of
# its own so that a hang costs only that part: the GPU and its software; cnnlab's recipes eager beside the airbench
# package's airbench94 on the same card; where the engine's step spends its time (bench/cuda_step_profile.py); the
# CUDA tests (tests/test_cuda.py and the loader's); the fastest recipe compiled; mnist-99 (last: the first to go
# when the device time runs out). About 10 minutes at most.
#
# Usage: bash bench/cuda_session.sh OUTDIR   (logs and JSON land in OUTDIR; the datasets folder is
#        CNNLAB_BENCH_DATA for the benchmark and CNNLAB_SHARED/datasets for the tests, as on the CPU)
set -u
out=${1:?usage: bash bench/cuda_session.sh OUTDIR}
py=${PYTHON:-python3}
mkdir -p "$out"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
    lscpu | grep -E 'Model name|^CPU\(s\)'
} 2>&1 | tee "$out/gpu.txt"

part() {  # part NAME SECONDS COMMAND...: run COMMAND with a limit, its output in OUTDIR/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local t=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    echo "== $name: exit $? after $((SECONDS - t)) s"
    tail -n 25 "$out/$name.log"
}

part bench_eager 210 $py bench/cifar10_time_to_accuracy.py --device cuda --no-compile \
    --only fast70,best80,best90,gpu90,airbench94 --out "$out/cifar10_cuda_eager.json"
part step_profile 90 $py bench/cuda_step_profile.py --batches 256,2000 --out "$out/cuda_step_profile.json"
part tests 150 $py -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_data_pipeline.py -k cuda
part bench_compiled 90 $py bench/cifar10_time_to_accuracy.py --device cuda --only fast70 \
    --out "$out/cifar10_cuda_compiled.json"
part mnist_eager 45 $py bench/mnist_time_to_accuracy.py --device cuda --no-compile --only recipe \
    --out "$out/mnist_cuda_eager.json"
