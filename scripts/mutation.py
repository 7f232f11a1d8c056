"""Mutation score of the suite on the modules whose logic is pure and fast to test (#18), with mutmut 3.

Each module is mutated in a scratch copy of the checkout (mutmut writes its mutants/ folder beside the code), against
the test files that exercise it; the score is killed / (killed + survived + timed out): a timeout counts against the
score, since on a busy machine a slow test is not a killed mutant (run it on a quiet machine), and so does a mutant
in code none of those tests reaches (mutmut's "no tests"), which survives by definition. Survivors are listed so
each can be killed by a test or explained as equivalent. Not part of `make test` (it runs the tests
once per mutant); writes bench/results/mutation.json.

    .venv/bin/python scripts/mutation.py [--jobs N] [--sample N] [MODULE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the grader's four modules (reading a table, what each row should hold, which layer a row is, grading) share them
GRADER_TESTS = [
    "tests/test_check.py",
    "tests/test_check_keras.py",
    "tests/test_grade_units.py",
    "tests/test_grade_edges.py",
]
# the fast-training features of #12 (Muon, the weight average, test-time augmentation, whitening, augmentation,
# the precision choice) are pinned by these, which train real nets on slices of the real data in seconds
SPEED_TESTS = ["tests/test_speed_features.py", "tests/test_airbench.py", "tests/test_optim.py"]
RUNDIR_UNITS = "tests/test_rundir_units.py"
# module -> the test files that exercise it
MODULES = {
    "src/cnnlab/analysis/macs.py": ["tests/test_macs.py"],
    "src/cnnlab/analysis/receptive.py": ["tests/test_receptive.py"],
    **{f"src/cnnlab/analysis/{name}.py": GRADER_TESTS for name in ("table", "expected", "match", "grade")},
    "src/cnnlab/train/optim.py": ["tests/test_schedules.py", "tests/test_optim.py"],
    "src/cnnlab/train/diagnose.py": ["tests/test_diagnose.py"],
    "src/cnnlab/data/splits.py": ["tests/test_data_pipeline.py", "tests/test_splits.py"],
    "src/cnnlab/tune/algorithms.py": ["tests/test_tune_algorithms.py"],
    **{f"src/cnnlab/train/{name}.py": SPEED_TESTS for name in ("muon", "ema", "whiten", "precision")},
    "src/cnnlab/train/tta.py": [*SPEED_TESTS, "tests/test_habits.py"],
    "src/cnnlab/data/augment.py": [*SPEED_TESTS, "tests/test_data_pipeline.py"],
    # the recipes' nets, their batches (shuffles, flips, the small images of --progressive) and their resizing (#12)
    "src/cnnlab/zoo/airbench.py": [*SPEED_TESTS, "tests/test_model_options.py"],
    **{f"src/cnnlab/data/{name}.py": [*SPEED_TESTS, "tests/test_data_pipeline.py"] for name in ("loader", "adapt")},
    # the run directory (the contract between commands): its other tests train real runs in subprocesses, too slow
    # to run once per mutant, so tests/test_rundir_units.py calls its functions directly
    "src/cnnlab/rundir/config.py": [RUNDIR_UNITS, "tests/test_experiment_files.py"],
    **{
        f"src/cnnlab/rundir/{name}.py": [RUNDIR_UNITS]
        for name in ("listing", "view", "lock", "batches", "events", "layout")
    },
    "src/cnnlab/rundir/checkpoint.py": [RUNDIR_UNITS, "tests/test_checkpoint_store.py"],
    # the files a user hands over: datasets' formats, their own image folders, network and search-space files
    "src/cnnlab/data/formats.py": ["tests/test_data_inputs.py", "tests/test_formats_units.py"],
    "src/cnnlab/data/imagefolder.py": [
        "tests/test_data_inputs.py",
        "tests/test_flowers.py",
        "tests/test_imagefolder_units.py",
    ],
    "src/cnnlab/zoo/spec.py": ["tests/test_spec.py", "tests/test_macs.py", "tests/test_spec_units.py"],
    "src/cnnlab/tune/space.py": ["tests/test_space_units.py"],
    "src/cnnlab/tune/template.py": ["tests/test_space_units.py"],
    # the edge-detection lab's kernels (`cnnlab filter`, cnnlab.filter)
    "src/cnnlab/explain/kernels.py": ["tests/test_explain.py", "tests/test_kernels_units.py"],
    # the numeric layers a student works by hand (`cnnlab conv`, `pool`, `dense`, `batchnorm`, `softmax`, their
    # text matrices and explanations) and the arithmetic the grader reads from a cell's working
    **{
        f"src/cnnlab/reference/{name}.py": ["tests/test_reference.py", "tests/test_reference_edges.py"]
        for name in (
            "activations",
            "batchnorm",
            "conv",
            "dense",
            "exercises",
            "explain",
            "pool",
            "softmax",
            "textmatrix",
            "window",
        )
    },
    "src/cnnlab/analysis/working.py": GRADER_TESTS,
    # a compare study's plan: grids, placeholders, recipes and overrides, read with nothing trained
    "src/cnnlab/study/plan.py": ["tests/test_study_plan.py", "tests/test_experiment_files.py"],
    # Grad-CAM, Grad-CAM++, the deletion check and feature maps on nets built in the tests (nothing trained)
    **{
        f"src/cnnlab/explain/{name}.py": ["tests/test_explain_units.py"] for name in ("gradcam", "deletion", "features")
    },
    # the comparison table of compare and report: cells from rows by hand, rows from three tiny real runs
    "src/cnnlab/report/tables.py": ["tests/test_report_units.py"],
}

# reasons shared by several survivors below
CLAMP_GREY = "the luma weights sum to 1, so grey stays within 0..255 and the clamp never acts"
CLAMP_RESIZE = "antialiased bilinear weights are positive and sum to 1: no pixel leaves 0..255"
CHUNK_SPEED = "the chunk size changes speed only: a test pins that where a chunk ends changes no pixel"
WHOLE_BATCH = "one process keeps the whole batch of n: slice(None, n), slice(0, None) and slice(n) all take it"
SHAPE_PLUS_2 = "shape[+2:] of an (N, C, H, W) batch is shape[-2:]"
NONE_FALSY = "None is falsy as False"
NON_BLOCKING = "non_blocking only matters for a copy to a GPU"
SHIPPED_BASE = "recipe:NAME as shown only differs for a shipped recipe, whose chain is valid: no error ever names it"
EVERY_CHOICES = "every RunConfig field is made by setting(), which always records its choices: the default is unread"
PROC_LOCKS = "the lines of /proc/locks have 8 fields (9 for a waiter): a bound of 6 or 7 tells none apart"
LAST_FIELD = "rsplit(':') with any count ends with the same field, the inode"
NO_FD = "any negative descriptor means no lock held: -2 is as good as -1"
DIGEST_BLOCK = "the block size read at a time changes speed only: the sha256 of the whole file is the same"
FIRST_FIELD = "split(',') with any count starts with the same field, the epoch"
SPANS_TWO = "spans are kept for two or more units only (one span is always uniform): n > 1 always"
EXPERIMENT_KEYS = "read_experiment refused unknown keys already, naming the file: from_dict's source is never shown"
# the files a user hands over (2026-12-06)
LINUX_AFFINITY = "Linux has sched_getaffinity: the cpu_count() fallback (macOS, Windows) is never read"
FORK_DEFAULT = "Python 3.11's default start method on Linux is fork: no context, or get_context(None), is fork too"
INCEPTION_POOL = "the pool branch is 3x3 at stride 1 with padding 1: ceil and floor give the same size"
EMPTY_SHAPE = "(C, 1, 0) and (C, 0, 1) hold a 0 as (C, 0, 0) does: later layers fail alike and count no values"
# the numeric layers (2026-12-06)
FLOAT64_PARTNER = (
    "the other operand is float64: a float32 or int value is upcast exactly before the arithmetic, so the result "
    "is the same float64"
)
OWN_STATISTICS = "built from the forward pass's own per-channel statistics: always one per channel, the name never said"

# Survivors that no test can kill, with why: the mutant computes the same thing as the original. Mutant names are
# mutmut's (module path, function, number); a change to a module renumbers its mutants, so re-check this list then.
EQUIVALENT = {
    **dict.fromkeys(
        [f"cnnlab.reference.batchnorm.x__per_channel__mutmut_{n}" for n in (3, 5)]
        + [f"cnnlab.reference.batchnorm.x_batch_norm_inference__mutmut_{n}" for n in (6, 8)]
        + [f"cnnlab.reference.conv.x_conv2d__mutmut_{n}" for n in (7, 9, 11, 13, 163, 165)]
        + [f"cnnlab.reference.dense.x_dense__mutmut_{n}" for n in (3, 5, 7, 9, 25, 27)]
        + [f"cnnlab.reference.softmax.x_cross_entropy__mutmut_{n}" for n in (3, 5)]
        + [f"cnnlab.reference.softmax.x_cross_entropy_grad__mutmut_{n}" for n in (3, 5)]
        + [f"cnnlab.reference.exercises.x__per_column__mutmut_{n}" for n in (4, 6)],
        FLOAT64_PARTNER,
    ),
    **dict.fromkeys(
        [f"cnnlab.reference.batchnorm.x_batch_norm_backward__mutmut_{n}" for n in (20, 27, 28, 36, 40, 41, 45, 49, 50)],
        OWN_STATISTICS,
    ),
    "cnnlab.reference.batchnorm.x__per_channel__mutmut_23": "numpy's reshape reads any negative size as 'the rest', -2 as -1",
    "cnnlab.reference.conv.x_conv2d__mutmut_141": "einsum takes capital letters as subscripts too: the same contraction",
    "cnnlab.reference.conv.x_conv2d__mutmut_158": "a (C_out, 1, 1) bias broadcasts over (N, C_out, H, W) as (1, C_out, 1, 1) does",
    "cnnlab.reference.conv.x_conv2d__mutmut_30": "groups divides C_in (refused just above otherwise): C_in / groups is the same number",
    **dict.fromkeys(
        [f"cnnlab.reference.textmatrix.x_parse_matrix__mutmut_{n}" for n in (13, 16)],
        "split('#') with any count starts with the same text, the part before the first '#'",
    ),
    **dict.fromkeys(
        [f"cnnlab.reference.textmatrix.x_parse_matrix__mutmut_{n}" for n in (43, 45)],
        "the rows hold Python floats, which NumPy makes float64 anyway",
    ),
    "cnnlab.reference.textmatrix.x_read_matrix__mutmut_16": "a file of MAX + 1 bytes or more is refused alike: one byte more read changes nothing",
    "cnnlab.reference.textmatrix.x_read_matrix__mutmut_22": "codec names are case-insensitive: UTF-8-SIG is utf-8-sig",
    **dict.fromkeys(
        [f"cnnlab.explain.kernels.x_apply_kernel__mutmut_{n}" for n in (3, 4)]
        + ["cnnlab.explain.kernels.x_get_kernel__mutmut_4", "cnnlab.explain.kernels.x_numbers_kernel__mutmut_22"],
        "a kernel is square (numbers_kernel and read_kernel_file refuse any other): its two sides are the same",
    ),
    **dict.fromkeys(
        [f"cnnlab.explain.kernels.x_get_kernel__mutmut_{n}" for n in (9, 11)]
        + [f"cnnlab.explain.kernels.x_read_kernel_file__mutmut_{n}" for n in (50, 52)],
        "a tensor of Python floats is float32 by default",
    ),
    "cnnlab.explain.kernels.x_filter_panels__mutmut_10": "a colour image has 3 planes already: expand(3, -1, -1) keeps it",
    **dict.fromkeys(
        [f"cnnlab.explain.kernels.x_filter_panels__mutmut_{n}" for n in (89, 92, 93)],
        "one label per plane and one response per plane: strict=True guards a mismatch this code never makes",
    ),
    "cnnlab.analysis.working.x__sum__mutmut_9": "tokens are numbers, + - * / and brackets (x is read as *): none is X or a part of 'XX+-XX' but + and -",
    "cnnlab.analysis.working.x__tokens__mutmut_23": "the text is stripped on the right, so a place no token matches holds a character: bad is never None",
    **dict.fromkeys(
        [f"cnnlab.study.plan.x__plan__mutmut_{n}" for n in (51, 52)],
        "the one dashed flag compare lays over every run, --data-dir, is always text, which RunConfig never refuses",
    ),
    **dict.fromkeys(
        [f"cnnlab.zoo.spec.x_same_network__mutmut_{n}" for n in (2, 8)],
        "parse_toml's path only names the file in its error, which same_network catches and answers False",
    ),
    "cnnlab.analysis.grade.x_check__mutmut_31": (
        "the partial summary's name is never shown: `cannot` names the layer check's failure is always at, and the "
        "Keras notes that name a summary are for resnet50/101/152, which run at every input"
    ),
    **dict.fromkeys(
        [f"cnnlab.explain.gradcam.x__cam_batch__mutmut_{n}" for n in (58, 62)],
        "bilinear interpolation's align_corners defaults to False",
    ),
    "cnnlab.explain.gradcam.x__cam_batch__mutmut_63": SHAPE_PLUS_2,
    **dict.fromkeys(
        [f"cnnlab.explain.gradcam.x__weights__mutmut_{n}" for n in (9, 38)],
        "alpha = g^2 / (2 g^2 + sum(A) g^3) is 1 / (2 + sum(A) g) for g != 0: any power of g, and any stand-in "
        "for a zero denominator, cancels",
    ),
    "cnnlab.explain.gradcam.x__weights__mutmut_40": "alpha where g == 0 is multiplied by relu(g) = 0: 1 or 0 alike",
    "cnnlab.explain.gradcam.x_explained_layer__mutmut_9": "the maps' shapes are read from the first image or two alike",
    "cnnlab.explain.gradcam.x_grad_cam__mutmut_3": "the batch size only sets how many images go through at once (eval mode)",
    "cnnlab.explain.gradcam.x_joining_block__mutmut_11": "the names past the conv's own depth are the conv itself, never a block of more channels",
    "cnnlab.explain.deletion.x__curves__mutmut_13": CHUNK_SPEED,
    "cnnlab.explain.deletion.x__curves__mutmut_18": (
        "each chunk then scores every pair from the first up to its end: wasteful, but the last writes each pair's "
        "right value"
    ),
    **dict.fromkeys(
        [f"cnnlab.explain.deletion.x__generator__mutmut_{n}" for n in (10, 14)]
        + ["cnnlab.explain.deletion.x_deletion_check__mutmut_1"],
        "another fixed derivation of the streams' seeds draws other orders from the same law: tests pin that a "
        "seed repeats and that an image's stream is its own, not the numbers",
    ),
    **dict.fromkeys(
        [f"cnnlab.explain.deletion.x_deletion_check__mutmut_{n}" for n in (32, 100)],
        "dim=-1, the default, is dim 1 of these (N, pixels) and (N, steps) tensors",
    ),
    **dict.fromkeys(
        [f"cnnlab.explain.deletion.x_deletion_check__mutmut_{n}" for n in (34, 48)],
        "stable=False: PyTorch's CPU sort is stable anyway",
    ),
    **dict.fromkeys(
        [f"cnnlab.explain.deletion.x_deletion_check__mutmut_{n}" for n in (66, 68)],
        "integer counts divided by an integer are float32 by true division",
    ),
    "cnnlab.report.tables.x__row__mutmut_6": "a zoo model's name holds no folder: Path(name).name is the name",
    "cnnlab.report.tables.x_render_table__mutmut_21": "csv.DictWriter reads extrasaction case-blind and acts only on 'raise'",
    "cnnlab.study.plan.x__plan__mutmut_53": "no setting is named '' or 'XXXX': neither is in SETTINGS",
    "cnnlab.data.splits.x__allocate__mutmut_15": "argsort without stable=True: PyTorch's CPU sort is stable anyway",
    "cnnlab.data.splits.x__allocate__mutmut_18": "stable=False: PyTorch's CPU sort is stable anyway",
    "cnnlab.data.splits.x_stratified_subset__mutmut_21": "argsort without stable=True: the CPU sort is stable anyway",
    "cnnlab.data.splits.x_stratified_subset__mutmut_22": "stable=False: PyTorch's CPU sort is stable anyway",
    "cnnlab.data.splits.x_limit_indices__mutmut_7": "limit == len(y) then goes to stratified_subset, which takes all",
    "cnnlab.data.splits.x_stratified_split__mutmut_18": "a float mask: nonzero() finds the same indices",
    "cnnlab.data.splits.x_stratified_split__mutmut_20": "a float mask: nonzero() finds the same indices",
    "cnnlab.train.optim.x_lr_factor__mutmut_47": "onecycle t <= peak: at t == peak both branches give exactly 1.0",
    "cnnlab.train.optim.x_lr_factor__mutmut_85": "triangle t <= peak: at t == peak both branches give exactly 1.0",
    "cnnlab.train.diagnose.x_at_chance__mutmut_1": 'pixels default "XXunitXX": only "raw" is tested, so it acts as unit',
    "cnnlab.train.diagnose.x_at_chance__mutmut_2": 'pixels default "UNIT": only "raw" is tested, so it acts as unit',
    "cnnlab.tune.algorithms.x_make_pruner__mutmut_1": "trials default 21: no bracket count puts 10 * brackets between 20 and 21",
    "cnnlab.tune.algorithms.x_make_pruner__mutmut_13": "without min_resource=1: HyperbandPruner's default min_resource is 1",
    "cnnlab.tune.algorithms.x_make_sampler__mutmut_21": "all warnings ignored: the sampler constructors raise only ExperimentalWarning",
    "cnnlab.tune.algorithms.x_make_sampler__mutmut_36": "without constant_liar=True: Optuna 5's TPESampler defaults to it",
    "cnnlab.analysis.macs.x__pair__mutmut_1": "only given nn.Conv2d.kernel_size, always a tuple in torch",
    "cnnlab.analysis.macs.x__pair__mutmut_6": "v[+1] is v[-1] on the 2-tuple kernel_size of nn.Conv2d",
    "cnnlab.analysis.macs.x_layer_macs__mutmut_37": "always math.prod(shape[:-1]): the product of () is 1 anyway",
    "cnnlab.analysis.macs.x_layer_macs__mutmut_41": ">= 1: for a 1-d shape math.prod(()) is 1 anyway",
    "cnnlab.analysis.macs.x_layer_params_formula__mutmut_3": "recurse=None is falsy: parameters() treats it as False",
    "cnnlab.analysis.macs.x_layer_params_formula__mutmut_45": "recurse=None is falsy: parameters() treats it as False",
    "cnnlab.analysis.macs.x_shape_formula__mutmut_58": "the default None is not 'same' either (as 0 is not)",
    "cnnlab.analysis.macs.x_shape_formula__mutmut_64": "the default 1 is not 'same' either (as 0 is not)",
    "cnnlab.analysis.receptive.x_adaptive_window__mutmut_1": "out == size: stride 1 and kernel size - (out-1) = 1 too",
    "cnnlab.analysis.receptive.xǁAxisǁwhole__mutmut_4": "the computed extent (e + 0 - e)//max(e, 1) + 1 is 1 anyway",
    "cnnlab.analysis.receptive.xǁAxisǁwhole__mutmut_8": "the computed extent (e + 0 - e)//max(e, 1) + 1 is 1 anyway",
    "cnnlab.analysis.receptive.x__at__mutmut_5": "i == 0 is inside values (spans are never empty)",
    "cnnlab.analysis.receptive.x__at__mutmut_6": "i == 0 is inside values (spans are never empty)",
    "cnnlab.analysis.receptive.x__at__mutmut_11": SPANS_TWO,
    "cnnlab.analysis.receptive.x__at__mutmut_15": SPANS_TWO,
    "cnnlab.analysis.receptive.x__at__mutmut_25": SPANS_TWO,
    "cnnlab.analysis.receptive.x__at__mutmut_31": SPANS_TWO,
    "cnnlab.analysis.receptive.xǁAxisǁ_span__mutmut_14": "_at reads jump for one value only: spans are 2+",
    "cnnlab.analysis.receptive.xǁAxisǁ_span__mutmut_20": "_at reads jump for one value only: spans are 2+",
    "cnnlab.analysis.receptive.xǁAxisǁ_spans__mutmut_1": "_span(i, i) is spans[i]; extent is len(spans)",
    "cnnlab.analysis.receptive.xǁAxisǁwhole__mutmut_1": "one span of a uniform axis: the same size, jump, start (no tensor has extent 0)",
    "cnnlab.analysis.receptive.xǁAxisǁwhole__mutmut_17": "the computed extent (e + 0 - e)//max(e, 1) + 1 is 1 anyway",
    "cnnlab.analysis.receptive.xǁAxisǁwhole__mutmut_21": "the computed extent (e + 0 - e)//max(e, 1) + 1 is 1 anyway",
    "cnnlab.analysis.receptive.xǁAxisǁadaptive__mutmut_26": "windows of one step have one size (n, out < 400)",
    "cnnlab.analysis.receptive.x_field_formula__mutmut_26": "axes[1] is axes[0] where they are equal",
    "cnnlab.analysis.match.x_align__mutmut_1": "the default reason is never used: grade always passes one",
    "cnnlab.analysis.table.x__box_rows__mutmut_18": "fresh starts None, not True: it is only read once a row exists",
    "cnnlab.analysis.table.x__box_rows__mutmut_65": "fresh = None, not False: it is only read as `not fresh`",
    "cnnlab.analysis.table.x__box_rows__mutmut_87": "the header's line number: _build_table drops it",
    "cnnlab.analysis.table.x__keras2_rows__mutmut_29": "the header's line number: _build_table drops it",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_5": "the convention of a table without FLOPs is never read",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_6": "every column a layer has a value for has a formula too",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_97": "grade reads every number cell beforehand: reading is never None",
    "cnnlab.analysis.table.x_read_table__mutmut_11": "codec names are case-insensitive: UTF-8-SIG is utf-8-sig",
    "cnnlab.analysis.match.x_align__mutmut_2": "the default convention is never used: grade always passes one",
    "cnnlab.analysis.match.x_align__mutmut_3": "the default convention is never used: grade always passes one",
    "cnnlab.analysis.match.x_align__mutmut_30": "stopped starts None, not False: it is only read as true or false",
    "cnnlab.analysis.table.x__box_rows__mutmut_9": "header starts None, not []: it is only read as true or false before it is set",
    "cnnlab.analysis.table.x__box_rows__mutmut_19": "fresh starts False, not True: it is only read once a row exists",
    "cnnlab.analysis.table.x__box_rows__mutmut_86": "the header's line number: _build_table drops it",
    "cnnlab.analysis.expected.x_from_row__mutmut_1": "the default convention is never used: the matcher always passes one",
    "cnnlab.analysis.expected.x_from_row__mutmut_2": "the default convention is never used: the matcher always passes one",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_1": "the default convention is never used: grade always passes one",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_2": "the default convention is never used: grade always passes one",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_8": "every column a layer has a value for has a formula too",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_9": "every column a layer has a value for has a formula too",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_92": "grade reads every number and receptive-field cell beforehand: reading is never None",
    "cnnlab.analysis.grade.x_grade__mutmut_26": "the reason is only read for a layer that cannot exist, which comes with a failure",
    "cnnlab.analysis.grade.x_grade__mutmut_29": "the reason is only read for a layer that cannot exist, which comes with a failure",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_9": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.x__grade_field__mutmut_39": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_106": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.x__short_label__mutmut_10": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.x__short_label__mutmut_24": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.x_grade__mutmut_69": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.xǁCellResultǁmessage__mutmut_17": "echoed reads quote only as true or false: None quotes no more than False",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_29": "every table row has a cell for every column, so every row's FLOPs cell is read",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_31": "every table row has a cell for every column, so every row's FLOPs cell is read",
    "cnnlab.analysis.grade.x__grade_cell__mutmut_99": "grade reads every number cell beforehand: reading is never None",
    "cnnlab.analysis.grade.x_grade__mutmut_31": "the reason is only read for a layer that cannot exist, which comes with a failure",
    "cnnlab.analysis.grade.x_grade__mutmut_34": "the reason is only read for a layer that cannot exist, which comes with a failure",
    "cnnlab.analysis.grade.x__short_label__mutmut_8": "the search ignores case: [A-Z] matches what [a-z] does",
    "cnnlab.analysis.grade.xǁCellResultǁ_subject__mutmut_8": "the row is lowercased first, so there is no X to strip",
    "cnnlab.analysis.grade.x__shape_text__mutmut_24": "a 1-D shape for a 1-D one: (expected[0],) is the expected shape either way",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_1": "the default reason is never used: align always passes one",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_2": "the default convention is never used: align always passes one",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_3": "the default convention is never used: align always passes one",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_26": "min's default is only used without blocks, and then the block pool is empty anyway",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_29": "min's default is only used without blocks, and then the block pool is empty anyway",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_79": "input_taken starts None, not False: it is only read as true or false",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_82": "last_shape starts None, not (): flatten only reads it as true or false until set",
    "cnnlab.analysis.match.xǁ_Matcherǁtake__mutmut_1": "the default label is only used for softmax rows; neither it nor 'XXXX' states a kernel",
    "cnnlab.analysis.table.x__keras2_rows__mutmut_30": "the header's line number: _build_table drops it",
    "cnnlab.analysis.table.x__markdown_rows__mutmut_20": "the header's line number: _build_table drops it",
    "cnnlab.analysis.table.x__markdown_rows__mutmut_21": "the header's line number: _build_table drops it",
    "cnnlab.analysis.table.x__keras2_rows__mutmut_70": "b is None only for the last column, where line[a:b] is line[a:]",
    "cnnlab.analysis.table.x__split_box__mutmut_8": "Keras pads every cell with a space, so no X touches a │ to be stripped",
    "cnnlab.analysis.table.x_parse_number__mutmut_36": "'XX0XX' has the same digits as '0'",
    "cnnlab.analysis.table.x__csv_rows__mutmut_10": "csv.reader takes dialect None as the excel dialect",
    "cnnlab.analysis.table.x__continues__mutmut_22": "column == len(cells) never: every row has its header's cell count",
    "cnnlab.analysis.table.xǁNumberǁlike__mutmut_2": "the text of an assertion that never fails (like() is only called on rounded numbers)",
    "cnnlab.analysis.table.xǁNumberǁlike__mutmut_3": "the text of an assertion that never fails (like() is only called on rounded numbers)",
    "cnnlab.analysis.expected.x__inside__mutmut_8": "the default end is only used for a block that ends the model, where None slices the same",
    "cnnlab.analysis.match.xǁ_Matcherǁ_children__mutmut_9": "the default end is only used for a module that ends the model, where None slices the same",
    "cnnlab.analysis.expected.x__size_formula__mutmut_12": "no layer of a zoo model or shipped net has a 2-D output",
    "cnnlab.analysis.expected.x_from_row__mutmut_70": "without moving statistics Keras' count is the graded one, which a wrong cell cannot hold",
    "cnnlab.analysis.expected.x_from_row__mutmut_71": "without moving statistics, or under keras, Keras' count is the graded one, which a wrong cell cannot hold",
    "cnnlab.analysis.expected.x_total_expected__mutmut_106": "without moving statistics Keras' count is the graded one, which a wrong cell cannot hold",
    "cnnlab.analysis.expected.x_trainable_expected__mutmut_16": "without moving statistics Keras' count is the graded one, which a wrong cell cannot hold",
    "cnnlab.analysis.match.xǁ_Matcherǁmatch__mutmut_1": "the default label is never used: align always passes one",
    "cnnlab.analysis.match.xǁ_Matcherǁ_record__mutmut_11": "a matched layer's shape is always a tuple",
    "cnnlab.analysis.match.xǁ_Matcherǁ__init____mutmut_41": "every leaf has an input shape, so the default is never used",
    "cnnlab.analysis.match.x__leaf_kind__mutmut_39": "no row asks for kind 'other': it only keeps such layers out of the other pools",
    "cnnlab.analysis.match.x__leaf_kind__mutmut_40": "no row asks for kind 'other': it only keeps such layers out of the other pools",
    "cnnlab.analysis.match.xǁ_Matcherǁsoftmax__mutmut_9": "a model without dense layers: None is as empty as []",
    "cnnlab.analysis.match.xǁ_Matcherǁsoftmax__mutmut_11": "a model without dense layers: None is as empty as []",
    "cnnlab.analysis.match.xǁ_Matcherǁexpected__mutmut_4": "a layer that cannot exist is never graded, so its formulas are never read",
    "cnnlab.analysis.match.xǁ_Matcherǁnamed__mutmut_35": "the separator only keeps the words on either side of the "
    "module apart: no branch word or kernel (3x3) can be made of x's and spaces",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_4": "the convention of a table without FLOPs is never read",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_24": "every row of a table with FLOPs has a reading of its FLOPs cell",
    "cnnlab.analysis.grade.x__flops_convention__mutmut_26": "every row of a table with FLOPs has a reading of its FLOPs cell",
    "cnnlab.analysis.grade.x__uses_hwc__mutmut_15": "'XXXX' is no shape, as '' is not",
    "cnnlab.analysis.grade.x_check__mutmut_17": "check's failed layer is always a model layer, so the partial summary's name is never read",
    "cnnlab.train.muon.x__orthogonalize_filters__mutmut_20": "a stack of one matrix is iterated as the matrix alone (same products, one batch)",
    "cnnlab.train.muon.x__orthogonalize_filters__mutmut_25": "a stack of one matrix is iterated as the matrix alone (same products, one batch)",
    "cnnlab.train.muon.x__orthogonalize_filters__mutmut_31": "zip over the members and their results, equally long by construction",
    "cnnlab.train.muon.x__orthogonalize_filters__mutmut_34": "zip over the members and their results, equally long by construction",
    "cnnlab.train.muon.x__orthogonalize_filters__mutmut_35": "zip over the members and their results, equally long by construction",
    "cnnlab.train.muon.x__orthogonalize_filters__mutmut_37": ".to(None) keeps float32, the dtype of every filter the engine trains",
    "cnnlab.train.muon.x_orthogonalize__mutmut_20": "a square matrix iterated as its transpose: the same result, to rounding",
    "cnnlab.train.muon.x_orthogonalize__mutmut_4": "norm - 1e-7 for norm + 1e-7: a float32 rounding apart, and a zero update stays zero",
    "cnnlab.train.ema.xǁEMAǁ_lookahead__mutmut_10": "updates never outnumber the run's steps, so the progress never exceeds 1 for min to cap",
    "cnnlab.train.tta.x__shift__mutmut_12": "a second column of padding on the right, past the last one any shift slices",
    "cnnlab.train.tta.x__shift__mutmut_14": "a second row of padding at the bottom, past the last one any shift slices",
    "cnnlab.train.tta.x__shift__mutmut_2": "shape[+2:] is shape[-2:] of the (N, C, H, W) batches it is given",
    "cnnlab.train.tta.x_logits__mutmut_1": "a views default naming neither flip nor translate evaluates as none: model(x) / 1",
    "cnnlab.train.tta.x_logits__mutmut_2": "a views default naming neither flip nor translate evaluates as none: model(x) / 1",
    "cnnlab.train.tta.x_logits__mutmut_4": "none through the general path is the same sum of one view over 1, exactly; the branch saves two ops",
    "cnnlab.train.tta.x_logits__mutmut_5": "none through the general path is the same sum of one view over 1, exactly; the branch saves two ops",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_39": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_40": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_41": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_42": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_43": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_44": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_45": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_46": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_47": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_48": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_49": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_53": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_56": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_61": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_65": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_82": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_84": "on the CPU, where the suite runs, the accumulators are on the CPU either way (GPU: tests/test_cuda.py)",
    "cnnlab.train.whiten.x_first_conv__mutmut_17": "recurse=None is as false as recurse=False",
    "cnnlab.train.whiten.x_first_conv__mutmut_27": "the text of an assertion no model reaches (a Conv2d always has a weight)",
    "cnnlab.train.whiten.x_first_conv__mutmut_28": "the text of an assertion no model reaches (a Conv2d always has a weight)",
    "cnnlab.train.whiten.x_first_conv__mutmut_29": "the text of an assertion no model reaches (a Conv2d always has a weight)",
    "cnnlab.train.whiten.x_first_conv__mutmut_30": "the text of an assertion no model reaches (a Conv2d always has a weight)",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_109": "the mean enters only as outer(mean, mean), the same for minus the mean",
    "cnnlab.train.whiten.x_patch_covariance__mutmut_71": "chunks of at least 2 images instead of 1: the same sums",
    "cnnlab.train.whiten.x_whitening_filters__mutmut_48": "the filters are D x D: shape[1] is shape[0]",
    "cnnlab.train.precision.x__cpuinfo__mutmut_6": "rpartition: no /proc/cpuinfo value read (model name, family, model, flags) holds a colon",
    "cnnlab.train.precision.x_cpu_flags__mutmut_6": "every Linux /proc/cpuinfo has a flags line, so the fallback is never read",
    "cnnlab.train.precision.x_cpu_family_model__mutmut_5": "every Linux /proc/cpuinfo has a cpu family line, so the fallback is never read",
    "cnnlab.train.precision.x_cpu_family_model__mutmut_10": "every Linux /proc/cpuinfo has a model line, so the fallback is never read",
    "cnnlab.train.precision.x_cpu_model__mutmut_1": "every x86 /proc/cpuinfo has a model name line, so the fallbacks are never read",
    "cnnlab.train.precision.x_cpu_model__mutmut_6": "every x86 /proc/cpuinfo has a model name line, so the fallbacks are never read",
    "cnnlab.train.precision.x_cpu_model__mutmut_7": "every x86 /proc/cpuinfo has a model name line, so the fallbacks are never read",
    "cnnlab.train.precision.x_cpu_model__mutmut_8": "every x86 /proc/cpuinfo has a model name line, so the fallbacks are never read",
    "cnnlab.data.augment.x_alternate_flip__mutmut_3": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_alternate_flip__mutmut_5": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_alternate_flip__mutmut_6": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_alternate_flip__mutmut_7": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_3": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_24": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_26": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_27": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_42": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_53": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_55": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_57": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_crop__mutmut_59": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_hflip__mutmut_3": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_hflip__mutmut_5": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_hflip__mutmut_6": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_random_hflip__mutmut_12": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_normalize__mutmut_12": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_normalize__mutmut_15": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_normalize__mutmut_32": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_normalize__mutmut_35": "on the CPU, where the suite runs: the device and non_blocking arguments matter on a GPU (tests/test_cuda.py)",
    "cnnlab.data.augment.x_normalize__mutmut_11": "Python floats become float32, the dtype of every batch normalised",
    "cnnlab.data.augment.x_normalize__mutmut_14": "Python floats become float32, the dtype of every batch normalised",
    "cnnlab.data.augment.x_normalize__mutmut_31": "Python floats become float32, the dtype of every batch normalised",
    "cnnlab.data.augment.x_normalize__mutmut_34": "Python floats become float32, the dtype of every batch normalised",
    "cnnlab.data.augment.x_normalize__mutmut_6": "(C, 1, 1) broadcasts over (N, C, H, W) as (1, C, 1, 1) does",
    "cnnlab.data.augment.x_normalize__mutmut_26": "(C, 1, 1) broadcasts over (N, C, H, W) as (1, C, 1, 1) does",
    "cnnlab.data.augment.x_random_crop__mutmut_47": "(1, H*W) broadcasts over (N, C, H*W) as (1, 1, H*W) does",
    "cnnlab.data.augment.x_random_crop__mutmut_48": "(1, H*W) broadcasts over (N, C, H*W) as (1, 1, H*W) does",
    "cnnlab.data.augment.x_random_crop__mutmut_32": "randint(high, size) draws the same numbers as randint(0, high, size)",
    "cnnlab.data.augment.x_random_crop__mutmut_41": "a third row of offsets, drawn and never used: later draws differ, not their law",
    "cnnlab.data.augment.x_random_hflip__mutmut_11": "rand < p or <= p: apart only when rand draws p itself",
    "cnnlab.train.precision.x_autocast__mutmut_2": "on the CPU autocast's default dtype is bf16 anyway (on a GPU fp16: tests/test_cuda.py)",
    "cnnlab.train.precision.x_autocast__mutmut_5": "on the CPU autocast's default dtype is bf16 anyway (on a GPU fp16: tests/test_cuda.py)",
    "cnnlab.train.precision.x_conv_rate__mutmut_1": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_2": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_3": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_4": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_25": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_26": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_33": "another probe size, kernel or repeat count: a rate all the same (the decision compares two)",
    "cnnlab.train.precision.x_conv_rate__mutmut_6": "a contiguous probe tensor: channels-last is the engine's speed choice, the rate is one all the same",
    "cnnlab.train.precision.x_conv_rate__mutmut_16": "a contiguous probe tensor: channels-last is the engine's speed choice, the rate is one all the same",
    "cnnlab.train.precision.x_conv_rate__mutmut_30": "float('INF') is float('inf')",
    "cnnlab.train.precision.x_conv_rate__mutmut_55": "a 1e-9 relative change of a measured rate",
    "cnnlab.data.adapt.x__channels__mutmut_34": "view(3, 1, 1) broadcasts over (N, 3, H, W) as view(1, 3, 1, 1) does",
    "cnnlab.data.adapt.x__channels__mutmut_44": CLAMP_GREY,
    "cnnlab.data.adapt.x__channels__mutmut_45": CLAMP_GREY,
    "cnnlab.data.adapt.x__channels__mutmut_47": CLAMP_GREY,
    "cnnlab.data.adapt.x__channels__mutmut_56": CLAMP_GREY,
    "cnnlab.data.adapt.x_adapt__mutmut_17": SHAPE_PLUS_2,
    "cnnlab.data.adapt.x_adapt__mutmut_20": SHAPE_PLUS_2,
    "cnnlab.data.adapt.x_adapt__mutmut_32": "device=None: the CPU here, where the images are (a GPU run of the suite kills it)",
    "cnnlab.data.adapt.x_adapt__mutmut_35": "no device: the CPU here, where the images are (a GPU run of the suite kills it)",
    "cnnlab.data.adapt.x_adapt__mutmut_41": CHUNK_SPEED,
    "cnnlab.data.adapt.x_adapt__mutmut_47": CHUNK_SPEED,
    "cnnlab.data.adapt.x_adapt__mutmut_48": CHUNK_SPEED,
    "cnnlab.data.adapt.x_adapt__mutmut_49": CHUNK_SPEED,
    "cnnlab.data.adapt.x_adapt__mutmut_51": CHUNK_SPEED,
    "cnnlab.data.adapt.x_adapt__mutmut_74": ".to(None): the assignment into the uint8 output converts anyway",
    "cnnlab.data.adapt.x_adapt__mutmut_75": CLAMP_RESIZE,
    "cnnlab.data.adapt.x_adapt__mutmut_76": CLAMP_RESIZE,
    "cnnlab.data.adapt.x_adapt__mutmut_78": CLAMP_RESIZE,
    "cnnlab.data.adapt.x_adapt__mutmut_80": CLAMP_RESIZE,
    "cnnlab.data.loader.xǁDeviceLoaderǁ_batch__mutmut_25": "epochs_started + 1 has the parity of epochs_started - 1: the same flips",
    "cnnlab.data.loader.xǁDeviceLoaderǁ_slice__mutmut_3": WHOLE_BATCH,
    "cnnlab.data.loader.xǁDeviceLoaderǁ_slice__mutmut_4": WHOLE_BATCH,
    "cnnlab.data.loader.xǁDeviceLoaderǁ_slice__mutmut_5": WHOLE_BATCH,
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_29": "no device kept: .to(None) leaves tensors where they are, on the CPU here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_30": "the device argument ignored: every tensor is on the CPU already here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_35": "x.to(None): the images stay where they are, on the CPU here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_36": "y.to(None): the labels stay where they are, on the CPU here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_46": "the first order is never read: __iter__ or load_state_dict draws one before any batch",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_50": NONE_FALSY,
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_57": "the flip mask .to(None) stays on the CPU, where the images are here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__init____mutmut_65": "<= 0.5: torch.rand gives exactly 0.5 once in 2^24 draws; the tests' draws hold none",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__iter____mutmut_9": NONE_FALSY,
    "cnnlab.data.loader.xǁDeviceLoaderǁ__iter____mutmut_15": "the indices .to(None) stay on the CPU, where the images are here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__iter____mutmut_17": "the indices .to() stay on the CPU, where the images are here (a GPU test kills it)",
    "cnnlab.data.loader.xǁDeviceLoaderǁ__iter____mutmut_18": NON_BLOCKING,
    "cnnlab.data.loader.xǁDeviceLoaderǁ__iter____mutmut_20": NON_BLOCKING,
    "cnnlab.data.loader.xǁDeviceLoaderǁ__len____mutmut_5": "0 <= n % b: when b divides n, n // b and the rounded-up count are the same",
    "cnnlab.data.loader.xǁDeviceLoaderǁstate_dict__mutmut_3": "0 <= position: a position of 0 is recorded as 0 either way",
    "cnnlab.zoo.airbench.x__conv3x3__mutmut_6": "bias=None is falsy: nn.Conv2d builds no bias, as with False",
    "cnnlab.zoo.airbench.xǁAirbenchǁ__init____mutmut_45": "without padding=0: nn.Conv2d's default padding is 0",
    "cnnlab.zoo.airbench.xǁAirbenchǁ__init____mutmut_46": "without bias=True: nn.Conv2d's default bias is True",
    "cnnlab.zoo.airbench.xǁAirbenchǁ__init____mutmut_90": "bias=None is falsy: nn.Linear builds no bias, as with False",
    "cnnlab.train.precision.x_probe_step__mutmut_11": "any precision but bf16 runs autocast disabled, as fp32 does",
    "cnnlab.train.precision.x_probe_step__mutmut_12": "any precision but bf16 runs autocast disabled, as fp32 does",
    "cnnlab.rundir.config.x__layered__mutmut_55": SHIPPED_BASE,
    "cnnlab.rundir.config.x_read_experiment__mutmut_19": SHIPPED_BASE,
    "cnnlab.rundir.config.xǁRunConfigǁ_check_choices__mutmut_4": EVERY_CHOICES,
    "cnnlab.rundir.config.xǁRunConfigǁ_check_choices__mutmut_6": EVERY_CHOICES,
    "cnnlab.rundir.config.xǁRunConfigǁ_check_numbers__mutmut_110": "a val_split of exactly 1 is a whole count: neither refuses it",
    "cnnlab.rundir.config.xǁRunConfigǁfrom_toml__mutmut_2": EXPERIMENT_KEYS,
    "cnnlab.rundir.config.xǁRunConfigǁfrom_toml__mutmut_4": EXPERIMENT_KEYS,
    "cnnlab.rundir.config.xǁRunConfigǁfrom_toml__mutmut_6": EXPERIMENT_KEYS,
    "cnnlab.rundir.listing.x_run_state__mutmut_84": "without a manifest load() returns None itself",
    "cnnlab.rundir.listing.x_run_state__mutmut_85": 'load(None): no set is named None, so it falls back to "last"',
    "cnnlab.rundir.listing.x_run_state__mutmut_86": NONE_FALSY,
    "cnnlab.rundir.listing.x_run_state__mutmut_89": 'no set is named "XXlastXX", so load falls back to "last"',
    "cnnlab.rundir.listing.x_run_state__mutmut_90": 'no set is named "LAST", so load falls back to "last"',
    "cnnlab.rundir.lock.x_holder__mutmut_12": PROC_LOCKS,
    "cnnlab.rundir.lock.x_holder__mutmut_13": PROC_LOCKS,
    "cnnlab.rundir.lock.x_holder__mutmut_17": LAST_FIELD,
    "cnnlab.rundir.lock.x_holder__mutmut_22": LAST_FIELD,
    "cnnlab.rundir.lock.xǁWriterLockǁ__init____mutmut_3": NO_FD,
    "cnnlab.rundir.lock.xǁWriterLockǁrelease__mutmut_6": NO_FD,
    "cnnlab.rundir.batches.x__line__mutmut_13": "csv.DictWriter reads extrasaction case-insensitively: IGNORE ignores",
    "cnnlab.rundir.batches.x_cut_batches__mutmut_14": FIRST_FIELD,
    "cnnlab.rundir.batches.x_cut_batches__mutmut_17": FIRST_FIELD,
    "cnnlab.rundir.batches.x_cut_batches__mutmut_23": FIRST_FIELD,
    "cnnlab.rundir.batches.x_cut_batches__mutmut_26": FIRST_FIELD,
    "cnnlab.rundir.checkpoint.x__digest__mutmut_13": DIGEST_BLOCK,
    "cnnlab.rundir.checkpoint.x__digest__mutmut_15": DIGEST_BLOCK,
    "cnnlab.rundir.checkpoint.x__digest__mutmut_16": DIGEST_BLOCK,
    "cnnlab.rundir.checkpoint.x_metrics_csv__mutmut_10": "each row is rebuilt from METRIC_FIELDS before it is written: no other key reaches the writer",
    "cnnlab.rundir.checkpoint.x_metrics_csv__mutmut_13": "csv.DictWriter reads extrasaction case-insensitively: IGNORE ignores",
    "cnnlab.rundir.checkpoint.xǁCheckpointStoreǁ_verified__mutmut_13": "a set's files are listed sorted, meta.json and metrics.csv first: nothing is read after the first skipped file either way",
    "cnnlab.rundir.checkpoint.xǁCheckpointStoreǁclean__mutmut_8": "manifest() of a folder that does not exist is None anyway",
    "cnnlab.rundir.events.xǁEventLogǁlog__mutmut_4": "an epoch row's columns have one underscore at most: rpartition splits them as partition",
    # the files a user hands over (2026-12-06)
    "cnnlab.data.formats.x_read_idx__mutmut_26": "int.from_bytes's byteorder defaults to 'big' since Python 3.11",
    "cnnlab.data.formats.x__unpickle__mutmut_8": "codec names are case-insensitive: LATIN1 is latin1",
    "cnnlab.data.formats.x_read_cifar__mutmut_62": "numpy's reshape reads any negative size as 'the rest', -2 as -1",
    "cnnlab.data.imagefolder.x__children__mutmut_6": "no folder listed ends with '/' (nor is the root listed): none equals a prefix",
    "cnnlab.data.imagefolder.x__decode__mutmut_5": "the folder is L only when every file is grey: draft then converts no JPEG's colours",
    "cnnlab.data.imagefolder.x__decode__mutmut_24": "eight_bit has made every image 8-bit: np.asarray gives uint8 anyway",
    "cnnlab.data.imagefolder.x__decode__mutmut_26": "eight_bit has made every image 8-bit: np.asarray gives uint8 anyway",
    "cnnlab.data.imagefolder.x__decode__mutmut_29": NONE_FALSY,
    "cnnlab.data.imagefolder.x__decode__mutmut_49": "an empty stack reshapes to (0, H, W, C) from any shape",
    "cnnlab.data.imagefolder.x__default_workers__mutmut_2": LINUX_AFFINITY,
    "cnnlab.data.imagefolder.x__default_workers__mutmut_9": LINUX_AFFINITY,
    "cnnlab.data.imagefolder.x__default_workers__mutmut_10": LINUX_AFFINITY,
    "cnnlab.data.imagefolder.x__list_labelled__mutmut_14": NONE_FALSY,
    "cnnlab.data.imagefolder.x__list_labelled__mutmut_35": "csv.reader of a non-empty line always yields a row: the default is never used",
    "cnnlab.data.imagefolder.x__list_labelled__mutmut_37": "csv.reader of a non-empty line always yields a row: the default is never used",
    **{f"cnnlab.data.imagefolder.x__pool__mutmut_{n}": FORK_DEFAULT for n in (5, 6, 7, 11, 12, 14, 18, 21)},
    "cnnlab.data.imagefolder.x__read_text__mutmut_6": "codec names are case-insensitive: UTF-8-SIG is utf-8-sig",
    **{f"cnnlab.data.imagefolder.x_decode_images__mutmut_{n}": CHUNK_SPEED for n in (9, 11, 12, 13)},
    "cnnlab.data.imagefolder.x_decode_images__mutmut_45": "most_common(None) lists every size, most common first, as most_common(1) begins",
    "cnnlab.data.imagefolder.x_decode_images__mutmut_47": "most_common(2) begins with most_common(1)'s size",
    "cnnlab.data.imagefolder.x_decode_images__mutmut_90": "a list of Python ints makes an int64 array on 64-bit Linux; an empty one is refused before use",
    "cnnlab.data.imagefolder.x_decode_images__mutmut_92": "a list of Python ints makes an int64 array on 64-bit Linux; an empty one is refused before use",
    "cnnlab.zoo.spec.x__pair__mutmut_6": "v[+1] is v[-1] on the 2-tuples of a conv or pool layer",
    "cnnlab.zoo.spec.xǁTensorFlowSameǁpad_same__mutmut_8": SHAPE_PLUS_2,
    "cnnlab.zoo.spec.xǁMaxPool2dSameǁforward__mutmut_8": "float('-INF') is float('-inf')",
    "cnnlab.zoo.spec.xǁ_Builderǁconv__mutmut_107": "without padding=0: nn.Conv2d's default padding is 0",
    "cnnlab.zoo.spec.xǁ_Builderǁinception__mutmut_102": INCEPTION_POOL,
    "cnnlab.zoo.spec.xǁ_Builderǁinception__mutmut_103": INCEPTION_POOL,
    "cnnlab.zoo.spec.xǁ_Builderǁlayer__mutmut_169": "called only for a kind in ACTIVATIONS: it never fails, so `where` is never read",
    "cnnlab.zoo.spec.xǁ_Builderǁlayer__mutmut_59": "take.float has refused an infinite eps already",
    "cnnlab.zoo.spec.xǁ_Builderǁpropagate__mutmut_19": "any probe batch over one gives the same per-image shape",
    "cnnlab.zoo.spec.xǁ_Builderǁpropagate__mutmut_32": "a shape is never empty (C, H, W or a flat vector): the fallback is never read",
    "cnnlab.zoo.spec.xǁ_Builderǁpropagate__mutmut_34": "a shape is never empty (C, H, W or a flat vector): the fallback is never read",
    "cnnlab.zoo.spec.xǁ_Builderǁpropagate__mutmut_35": EMPTY_SHAPE,
    "cnnlab.zoo.spec.xǁ_Builderǁpropagate__mutmut_36": EMPTY_SHAPE,
    "cnnlab.zoo.spec.xǁ_Builderǁbuild__mutmut_119": "a made-up name passes over every taken one: adding it never fails, `where` is never read",
    **dict.fromkeys(
        [f"cnnlab.zoo.spec.xǁ_Builderǁconv__mutmut_{n}" for n in (120, 127)]
        + [f"cnnlab.zoo.spec.xǁ_Builderǁpool__mutmut_{n}" for n in (61, 68)],
        "the padding was put back in the layer's table on the line before: the default is never taken",
    ),
    "cnnlab.zoo.spec.xǁ_Builderǁinception__mutmut_45": "a naive module passes its pool branch through: pool_proj is never read",
    "cnnlab.zoo.spec.xǁ_Builderǁinception__mutmut_68": "the reduction of a branch left out (or of a naive module) is never read",
    **dict.fromkeys(
        [f"cnnlab.zoo.spec.x_build_from_toml__mutmut_{n}" for n in (39, 40)],
        "on the meta device the memory probe would be built on the meta device again: the same estimate, twice",
    ),
    "cnnlab.tune.space.x__check_network__mutmut_6": "the template's temporary file name is taken off every message, whatever it is",
    "cnnlab.tune.space.x__check_network__mutmut_7": "the template's temporary file name is taken off every message, whatever it is",
    "cnnlab.tune.space.x_parse_space__mutmut_98": "RunConfig's default val_split is 0.1: a missing one is not 0, as None is not",
    "cnnlab.tune.space.x_parse_space__mutmut_100": "RunConfig's default val_split is 0.1: a missing one is not 0, as None is not",
    **dict.fromkeys(
        ("cnnlab.tune.space.x_parse_space__mutmut_122", "cnnlab.tune.space.x_parse_space__mutmut_124"),
        "[train]'s keys were checked just above with the file's name and a sampled setting is a RunConfig setting: "
        "no key is refused here, so the name is never said",
    ),
    **dict.fromkeys(
        ("cnnlab.tune.space.xǁSpaceǁrun_config__mutmut_9", "cnnlab.tune.space.xǁSpaceǁrun_config__mutmut_11"),
        "the space's keys were checked when it was read, sampled names are RunConfig settings and the overrides "
        "are the tuner's own: no key is refused here, so the name is never said",
    ),
    "cnnlab.analysis.table.x__header_role__mutmut_45": "the header is lower-cased first, so it has no X to strip",
    "cnnlab.analysis.table.x__with_maps__mutmut_9": "a maps cell only reaches _with_maps beside a shape cell: _build_table drops a maps column without one",
    "cnnlab.analysis.table.x__with_maps__mutmut_11": "a maps cell only reaches _with_maps beside a shape cell: _build_table drops a maps column without one",
    "cnnlab.analysis.table.x__with_maps__mutmut_14": "a maps cell only reaches _with_maps beside a shape cell: _build_table drops a maps column without one",
    "cnnlab.analysis.expected.x__connections__mutmut_57": "every leaf row's formulas hold params and macs (summary._leaf), so the default is never used",
    "cnnlab.analysis.expected.x__connections__mutmut_59": "every leaf row's formulas hold params and macs (summary._leaf), so the default is never used",
    "cnnlab.analysis.expected.x__connections__mutmut_62": "every leaf row's formulas hold params and macs (summary._leaf), so the default is never used",
    "cnnlab.analysis.expected.x__connections__mutmut_67": "every leaf row's formulas hold params and macs (summary._leaf), so the default is never used",
    "cnnlab.analysis.expected.x__connections__mutmut_69": "every leaf row's formulas hold params and macs (summary._leaf), so the default is never used",
    "cnnlab.analysis.expected.x_from_row__mutmut_45": "leaf formulas (summary._leaf) and block ones (_block_formulas) always hold params and macs",
    "cnnlab.analysis.expected.x_from_row__mutmut_47": "leaf formulas (summary._leaf) and block ones (_block_formulas) always hold params and macs",
    "cnnlab.analysis.expected.x_from_row__mutmut_50": "leaf formulas (summary._leaf) and block ones (_block_formulas) always hold params and macs",
    "cnnlab.analysis.expected.x_from_row__mutmut_54": "leaf formulas (summary._leaf) and block ones (_block_formulas) always hold params and macs",
    "cnnlab.analysis.expected.x_from_row__mutmut_56": "leaf formulas (summary._leaf) and block ones (_block_formulas) always hold params and macs",
    "cnnlab.analysis.expected.x_from_row__mutmut_59": "leaf formulas (summary._leaf) and block ones (_block_formulas) always hold params and macs",
    **dict.fromkeys(
        [f"cnnlab.analysis.expected.x__block_formulas__mutmut_{n}" for n in (17, 19, 20)]
        + [f"cnnlab.analysis.expected.x__keras_params_formula__mutmut_{n}" for n in (21, 23, 26)]
        + [f"cnnlab.analysis.expected.x_total_expected__mutmut_{n}" for n in (50, 52, 55, 71, 73, 76)],
        "every leaf row's formulas hold params and macs (summary._leaf), so the default is never used",
    ),
    **dict.fromkeys(
        [
            "cnnlab.analysis.expected.x__keras_params_formula__mutmut_4",
            "cnnlab.analysis.expected.x_total_expected__mutmut_46",
        ],
        "the rows are read only for a block, and these are leaves",
    ),
    "cnnlab.analysis.expected.x_input_expected__mutmut_60": "a summary's input is always C,H,W: summarize refuses any other",
}


def scratch_copy() -> Path:
    """The checkout's code, tests and examples in a temporary folder (the datasets stay beside the repo)."""
    root = Path(tempfile.mkdtemp(prefix="cnnlab-mutation-"))
    dest = root / REPO.name
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(".venv", ".git", ".test-cache", "runs", "mutants"))
    (root / "shared").symlink_to(REPO.parent / "shared")
    return dest


def mutate(module: str, tests: list[str], jobs: int, sample: int | None = None) -> dict:
    """Run mutmut on one module and read its per-mutant results; with `sample`, on that many of its mutants drawn at
    random (seed 0), for a module too large to test whole in one sitting."""
    work = scratch_copy()
    config = {
        "only_mutate": [module],
        "pytest_add_cli_args_test_selection": tests,
        "also_copy": ["examples"],
        # mutmut's limit is CPU seconds: (the mutant's tests' measured time + 1) * multiplier * 2; a mutant that
        # loops forever costs that much, and one thread per test run (OMP_NUM_THREADS=1) keeps the measure honest
        "timeout_multiplier": 10.0,
        "max_children": jobs,
    }
    with open(work / "pyproject.toml", "a") as f:
        f.write("\n[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()))
    mutmut = [str(Path(sys.executable).with_name("mutmut"))]
    start = time.monotonic()
    # mutmut runs the tests from work/mutants/, so the datasets are named rather than found beside the checkout
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CNNLAB_SHARED": str(work.parent / "shared")}
    chosen: list[str] = []
    if sample is not None:
        # a filter that matches no mutant: mutmut generates every mutant and the test statistics, then stops
        subprocess.run([*mutmut, "run", "no-mutant-has-this-name"], cwd=work, capture_output=True, text=True, env=env)
        everything = _statuses(work, mutmut)
        chosen = sorted(random.Random(0).sample(sorted(everything), min(sample, len(everything))))
    ran = subprocess.run([*mutmut, "run", *chosen], cwd=work, capture_output=True, text=True, env=env)
    status = _statuses(work, mutmut)
    total = len(status)
    if chosen:
        status = {n: status[n] for n in chosen}
    killed = sum(s == "killed" for s in status.values())
    timeouts = sum(s == "timeout" for s in status.values())
    # a mutant in code that none of the module's tests reaches ("no tests") is a survivor too: nothing could fail
    survived = sorted(n for n, s in status.items() if s in ("survived", "no tests"))
    if status and not killed + timeouts + len(survived):
        # mutmut tests no mutant when the unmutated tests fail (its "failed to collect stats"): no score, say why
        shutil.rmtree(work.parent, ignore_errors=True)
        tail = (ran.stdout + ran.stderr).strip().splitlines()[-3:]
        raise SystemExit(f"mutmut tested no mutant of {module} (do its tests pass unmutated?): {' / '.join(tail)}")
    diffs = {
        n: _changed_lines(subprocess.run([*mutmut, "show", n], cwd=work, capture_output=True, text=True).stdout)
        for n in survived
    }
    shutil.rmtree(work.parent, ignore_errors=True)
    scored = killed + len(survived) + timeouts
    equivalent = sum(n in EQUIVALENT for n in survived)
    return {
        "mutants": total,
        "tested": len(status),
        "killed": killed,
        "survived": len(survived),
        "timeout": timeouts,
        "untested": sum(s == "no tests" for s in status.values()),  # among the survivors
        "other": {
            s: sum(v == s for v in status.values())
            for s in set(status.values()) - {"killed", "timeout", "survived", "no tests"}
        },
        "score": round(killed / scored, 4) if scored else None,
        "equivalent": sum(n in EQUIVALENT for n in survived),
        "score_without_equivalent": round(killed / (scored - equivalent), 4) if scored > equivalent else None,
        "seconds": round(time.monotonic() - start, 1),
        "survivors": {n: {"diff": d, "equivalent": EQUIVALENT.get(n)} for n, d in diffs.items()},
    }


def _statuses(work: Path, mutmut: list[str]) -> dict[str, str]:
    """Each mutant's state as `mutmut results` lists it (killed, survived, timeout, not checked, ...)."""
    listed = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, capture_output=True, text=True).stdout
    status = {}
    for line in listed.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    return status


def _changed_lines(diff: str) -> list[str]:
    """The removed and added lines of mutmut's diff of one mutant."""
    return [line for line in diff.splitlines() if line[:1] in "-+" and line[:3] not in ("---", "+++")]


def cpu_name() -> str:
    """The CPU model as lscpu names it (figures depend on it)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Mutation score per module (#18); writes bench/results/mutation.json")
    parser.add_argument("modules", nargs="*", help="parts of module paths to run (all when none)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--sample", type=int, help="test only this many mutants per module, drawn at random (seed 0)")
    args = parser.parse_args(argv)
    chosen = {m: t for m, t in MODULES.items() if not args.modules or any(a in m for a in args.modules)}
    out = REPO / "bench" / "results" / "mutation.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    results.pop("cpu", None)  # each module's entry names the CPU it was measured on
    out.parent.mkdir(parents=True, exist_ok=True)
    for module, tests in chosen.items():
        r = mutate(module, tests, args.jobs, args.sample)
        results[module] = {"cpu": cpu_name(), **r}
        out.write_text(json.dumps(results, indent=1) + "\n")  # after each module: a long run keeps what it measured
        score = "-" if r["score"] is None else f"{r['score']:.1%}"
        drawn = "" if r["tested"] == r["mutants"] else f" ({r['tested']} drawn at random)"
        print(
            f"{module}: {r['mutants']} mutants{drawn}, {r['killed']} killed, {r['survived']} survived "
            f"({r['equivalent']} of them equivalent), {r['timeout']} timed out: {score} ({r['seconds']} s)"
        )
    print(f"written {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
