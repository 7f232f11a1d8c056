"""Which model layer each row of a student's table describes.

A row's label names a kind of layer ('C1', 'max pool 3x3/2', 'fc', 'softmax'), a layer's full dotted name, or an
inception module and branch ('inception(3a) #3x3 reduce'); `align` reads the labels and hands out the model's layers
to the rows in order, kind by kind, says why a row has no counterpart, and notes the layers the table leaves out.
Labels are free text, so these rules are heuristics with their own tests; they are kept apart from what each row
should hold (cnnlab.analysis.expected) and from grading its cells (cnnlab.analysis.grade).
"""

from __future__ import annotations

import math
import re

from cnnlab.analysis.expected import (
    Expected,
    from_row,
    input_expected,
    softmax_expected,
    total_expected,
    trainable_expected,
)
from cnnlab.analysis.summary import LayerRow, ModelSummary
from cnnlab.analysis.table import Table, plain

__all__ = ["align", "label_kind"]

# Label patterns in the order they are tried; model block types (Inception, BasicBlock, ...) come before these.
LABEL_KINDS = [
    ("softmax", r"softmax|\boutput|logits"),
    ("batchnorm", r"\bbn\d*\b|batch"),
    ("lrn", r"\blrn|response.?norm|\bnorm\d*\b"),  # AlexNet's local response normalisation ('norm1' in Caffe)
    ("pool", r"pool|subsampl|\bs\d+\b"),
    ("conv", r"conv|\bc\d+\b"),
    ("dense", r"\bfc|dense|linear|\bf\d+\b|full|affine"),
    ("flatten", r"flatten"),
    ("dropout", r"dropout"),
    ("activation", r"relu|tanh|sigmoid|gelu|\belu|swish|activation"),
    ("block", r"block|residual|module|stage|\(functional\)|\(sequential\)"),  # Keras: a nested model's row
]
LEFT_OUT_LISTED = 8  # layers of one kind named one per line; more are counted in one line
ACTIVATION_TYPES = re.compile(r"relu|tanh|sigmoid|gelu|elu|silu|swish|mish|softplus|hardtanh")


def _leaf_kind(r: LayerRow) -> str:
    t = r.type.lower()
    if r.kind in ("conv", "dense", "pool"):
        return r.kind
    for kind, test in (
        ("softmax", "softmax" in t),
        ("batchnorm", t.startswith("batchnorm")),
        ("lrn", t == "localresponsenorm"),
        ("flatten", t == "flatten"),
        ("dropout", t.startswith("dropout")),
        ("activation", bool(ACTIVATION_TYPES.search(t))),
    ):
        if test:
            return kind
    return "other"


def label_kind(label: str, block_types: list[str]) -> str | None:
    """The kind of layer a row label names (input, conv, pool, dense, softmax, ..., block:<type>), or None."""
    low = label.lower()
    if re.search(r"\binput", low):
        return "input"
    if re.search(r"\btotal|\bsum\b|overall", low):
        return "total"
    if re.search(r"non-?\s*trainable", low):
        return "nontrainable"
    if re.search(r"^trainable\b", low):
        return "trainable"
    for t in sorted(block_types, key=len, reverse=True):
        if t in low:
            return "block:" + t
    return next((kind for kind, pattern in LABEL_KINDS if re.search(pattern, low)), None)


class _Matcher:
    """Hands out the model's layers to table rows, in order, kind by kind.

    `failed` is the layer that cannot exist (the model stops there): the row it goes to is reported, not graded.
    """

    def __init__(
        self, summary: ModelSummary, failed: LayerRow | None = None, reason: str = "", convention: str = "torch"
    ) -> None:
        self.summary = summary
        self.convention = convention
        self.pools: dict[str, list[LayerRow]] = {}
        for r in summary.leaves:
            self.pools.setdefault(_leaf_kind(r), []).append(r)
        blocks = [r for r in summary.rows if not r.leaf]
        for r in blocks:
            self.pools.setdefault("block:" + r.type.lower(), []).append(r)
        top = min((r.depth for r in blocks), default=0)
        self.pools["block"] = [r for r in blocks if r.depth == top]
        self.pools["any"] = [r for r in summary.leaves if r.params or r.activations != math.prod(r.input_shape or (0,))]
        self.block_types = sorted({r.type.lower() for r in blocks})
        self.failed, self.reason = failed, reason
        if failed is not None:
            kind = _leaf_kind(failed) if failed.leaf else "block:" + failed.type.lower()
            self.pools.setdefault(kind, []).append(failed)
            self.pools["any"].append(failed)
            self.block_types = sorted({*self.block_types, *([] if failed.leaf else [failed.type.lower()])})
        self.used: set[int] = set()
        # the model's layers in order; the layer that cannot exist comes after every layer that can
        self.layers = [*summary.rows, *([failed] if failed is not None else [])]
        self.position = {id(r): i for i, r in enumerate(self.layers)}
        self.after = 0  # rows of the model after the last one matched by name (`named`) come first
        self.kinds: set[str] = set()
        self.input_taken = False
        self.sizes: list[int] = []
        self.last_shape: tuple[int, ...] = ()

    def expected(self, r: LayerRow) -> Expected:
        if r is self.failed:
            return Expected(r.name, {}, {}, cannot=self.reason)
        return from_row(r, self.summary.rows, self.convention)

    def take(self, kind: str, label: str = "") -> Expected | str:
        """The next unused model layer of `kind`, or why there is none.

        A row that states a kernel ('5x5 conv', 'max pool 3x3/2', 'conv 1x7') takes the next layer with that
        window, so that rows written in another order than the
        model's (an inception module's branches, a stem's 1x1 reduce left out) still meet their own layers; other
        rows take the layers in order."""
        self.kinds.add(kind)
        pool = self.pools.get(kind, [])
        # below a row matched by name: the layers after it, those outside inception branches first
        later = sorted(
            (r for r in pool if self.after and self.position[id(r)] >= self.after),
            key=lambda r: (".branch" in r.name, self.position[id(r)]),
        )
        free = [r for r in [*later, *pool] if id(r) not in self.used]
        window = _stated_window(label)
        chosen = next((r for r in free if window is not None and r.window == window), None) or next(iter(free), None)
        if chosen is not None:
            self.used.add(id(chosen))
            if not chosen.leaf and chosen is not self.failed:  # a block row (Keras' nested model) covers its layers
                self._use_inside(chosen)
            return self.expected(chosen)
        if kind == "flatten" and not pool:
            return self.flatten()
        if kind == "any":
            return f"no layer in the model to match (all {len(pool)} layers with weights or a new size are matched)"
        name = kind.removeprefix("block:") + (" block" if kind.startswith("block") else "")
        layers = f"{len(pool)} {name} layer{'s' if len(pool) != 1 else ''}"
        if not pool:
            return f"no layer in the model to match (it has no {name} layer)"
        return f"no layer in the model to match (it has {layers}, all matched by earlier rows)"

    def flatten(self) -> Expected | str:
        """A flatten row where the model flattens in its forward code (torch.flatten): the next dense layer's input."""
        dense = next((r for r in self.pools.get("dense", []) if id(r) not in self.used and r.input_shape), None)
        prev = self.last_shape
        if dense is None and not prev:
            return "no layer in the model to match (it has no flatten layer and no dense layer after this row)"
        if dense is None or (prev and math.prod(prev) == math.prod(dense.input_shape)):
            n = math.prod(prev)
            how = "*".join(map(str, prev)) + f" = {n:,} (the output above, flattened)"
        else:
            n = math.prod(dense.input_shape)
            how = f"{n:,}, the input of the next dense layer ({dense.name})"
        return Expected(
            "flatten (in the model's forward code)",
            {"shape": (n,), "size": n, "params": 0, "macs": 0, "flops": 0},
            {
                "shape": how,
                "size": how,
                "params": "0 (flattening has no weights)",
                "macs": "0 (flattening computes nothing)",
                "flops": "0 (flattening computes nothing)",
            },
        )

    def softmax(self) -> Expected | str:
        """A softmax module if the model has one, else the final dense layer, else a weightless softmax."""
        if self.pools.get("softmax"):
            return self.take("softmax")
        dense = self.pools.get("dense", [])
        if dense and id(dense[-1]) not in self.used:
            self.used.add(id(dense[-1]))
            return self.expected(dense[-1])
        return softmax_expected(self.summary)

    def match(self, kind: str | None, label: str = "") -> Expected | str:
        """The model counterpart of a row of `kind` (None: an unreadable label) labelled `label`, or why there is
        none."""
        hit = self._find(kind, label)
        if isinstance(hit, Expected) and kind not in ("total", "trainable", "nontrainable"):
            self._record(hit)
        return hit

    def _record(self, hit: Expected) -> None:
        """A matched layer's size, for the total's activation size, and its shape, for a flatten row below it (a
        layer that cannot exist has neither)."""
        if not hit.cannot:
            self.sizes.append(int(hit.values["size"]))
            shape = hit.values["shape"]
            self.last_shape = shape if isinstance(shape, tuple) else ()

    def _find(self, kind: str | None, label: str) -> Expected | str:
        if kind == "input":
            if self.input_taken:
                return "no layer in the model to match (it has one input, matched by an earlier row)"
            self.input_taken = True
            return input_expected(self.summary)
        if kind == "total":
            return total_expected(self.summary, self.sizes, self.convention)
        if kind in ("trainable", "nontrainable"):
            return trainable_expected(self.summary, kind, self.convention)
        if kind is None:
            return (
                "cannot tell which layer this is from its label; name it input, conv, pool, fc, flatten, relu, "
                "bn, lrn or softmax"
            )
        return self.softmax() if kind == "softmax" else self.take(kind, label)

    def named(self, label: str, context: LayerRow | None) -> tuple[Expected | str | None, LayerRow | None] | None:
        """A row labelled with a layer's full name as `cnnlab summary` prints it, or an inception row named by module
        and branch ('inception(3a) #3x3 reduce', '3a/1x1', '4e branch4 pool proj', or a branch row under the module
        named above it): that layer, the module's branch layer, the whole module when no branch is named, or why
        there is none; with the module, for the rows below. None: not such a row."""
        exact = self._by_name(label)
        if exact is not None:  # the layer that cannot exist has nothing inside it to claim
            return (self.expected(exact) if exact is self.failed else self._claim(exact)), None
        low = label.lower()
        m = _MODULE.search(low)
        rest = low
        if m:
            ident = m["a"] or m["b"]
            module = self._module(ident)
            if module is None:
                if "inception" not in low:
                    return None
                have = ", ".join(self._modules()) or "none"
                return f"no inception module {ident} in the model (its inception modules: {have})", None
            rest = low[: m.start()] + " " + low[m.end() :]
        elif context is not None and _BRANCH_WORD.search(low) and not _NOT_BRANCH.search(low):
            module = context
        else:
            return None
        spec = _branch_spec(rest)
        if spec is None:
            return (self._claim(module) if m else None), module
        branch, which, what = spec
        layers = self._branch(module, branch)
        if not layers:
            have = ", ".join(
                sorted({r.name.removeprefix(module.name + ".").split(".")[0] for r in self._children(module)})
            )
            return f"{module.name} has no {what} (its branches: {have})", module
        if which == 0 and len(layers) < 2:
            return f"{module.name} has no {what} (its branch{branch} is a single layer, {layers[0].name})", module
        return self._claim(layers[which]), module

    def _by_name(self, label: str) -> LayerRow | None:
        """The layer a label names as `cnnlab summary` prints it: its full name ('inception3a.branch2.0', 'avgpool',
        'layer1.0.relu (call 2)' for a module's second call), alone or followed by its type (the summary's Layer and
        Type columns: 'features.2 LocalResponseNorm'), so that a summary's own table grades right; the layer that
        cannot exist too."""
        words = plain(label).split()
        return next((r for r in self.layers if words in (r.name.split(), [*r.name.split(), r.type])), None)

    def _modules(self) -> list[str]:
        return [r.name for r in self.summary.rows if not r.leaf and "inception" in r.type.lower()]

    def _module(self, ident: str) -> LayerRow | None:
        for r in self.summary.rows:
            last = r.name.split(".")[-1].lower()
            if not r.leaf and "inception" in r.type.lower() and last.replace("_", "") in (ident, "inception" + ident):
                return r
        return None

    def _children(self, module: LayerRow) -> list[LayerRow]:
        rows = self.summary.rows
        start = rows.index(module) + 1
        end = next((i for i in range(start, len(rows)) if rows[i].depth <= module.depth), len(rows))
        return [r for r in rows[start:end] if r.depth == module.depth + 1]

    def _branch(self, module: LayerRow, n: int) -> list[LayerRow]:
        prefix = f"{module.name}.branch{n}"
        return [r for r in self._children(module) if r.name == prefix or r.name.startswith(prefix + ".")]

    def _claim(self, r: LayerRow) -> Expected:
        """`r`, with every layer inside it marked used (rows below that name a kind do not take them again)."""
        self.after = max(self.after, self._use_inside(r))
        if r.leaf:  # the layers of its kind the table leaves out are noted, as for rows matched by kind
            self.kinds.add(_leaf_kind(r))
        hit = self.expected(r)
        self._record(hit)
        return hit

    def _use_inside(self, r: LayerRow) -> int:
        """Mark `r` and every layer inside it used; returns the position of the first row after it."""
        rows = self.summary.rows
        start = rows.index(r)
        end = next((i for i in range(start + 1, len(rows)) if rows[i].depth <= r.depth), len(rows))
        self.used.update(id(x) for x in rows[start:end])
        return end

    def left_out(self) -> list[str]:
        """Notes on model layers that no row matched, of the kinds the table lists and, always, its convs and dense
        layers (a table of convs that forgets the dense head is told so; batch norm, often folded into its conv's
        row, only where the table lists it): one line each, or one line per kind where more than LEFT_OUT_LISTED
        are left out (a GoogLeNet table of a few rows leaves out a hundred)."""
        notes = []
        # not past a layer that cannot exist (rows there go ungraded), nor for a table of totals alone
        always = {"conv", "dense"} if self.failed is None and self.kinds else set()
        told: set[int] = set()  # a layer is in its kind's pool and in "any" (a row of no kind): told of once
        for kind in sorted(self.kinds | always):
            rows = [r for r in self.pools.get(kind, []) if id(r) not in self.used | told and r is not self.failed]
            told.update(id(r) for r in rows)
            if len(rows) > LEFT_OUT_LISTED:
                types = ", ".join(sorted({r.type for r in rows}))
                first = ", ".join(r.name for r in rows[:3])
                notes.append(f"not in the table: {len(rows)} {kind} layers ({types}): {first}, ...")
                continue
            notes += [
                f"not in the table: {r.name} ({r.type}"
                + (f", which keeps the shape of its {'x'.join(map(str, r.input_shape))} input)" if _no_op(r) else ")")
                for r in rows
            ]
        return notes


_MODULE = re.compile(r"inception\s*[(\[_\-]?\s*(?P<a>\d[a-z])\b|(?<![\w.])(?P<b>\d[a-h])\b")
# A row below an inception module that is not one of its branches: a strided layer ('max pool 3x3/2'), a pool
_NOT_BRANCH = re.compile(r"/\s*\d|^(?!.*(?:proj|branch|#)).*pool")
_BRANCH_WORD = re.compile(r"reduc|\bred\b|proj|branch|#|\b(\d)\s*[x×]\s*\1\b")


def _branch_spec(text: str) -> tuple[int, int, str] | None:
    """(branch number, index of the layer in the branch: 0 first, -1 last, what it is called) of an inception
    branch named in `text`: 1x1 (branch1), 3x3 reduce and 3x3 (branch2), 5x5 reduce and 5x5 (branch3), pool and
    pool proj (branch4), or 'branchN' with one of those words; None when it names none."""
    n = re.search(r"branch\s*[_ ]?(\d)", text)
    kernel = re.search(r"\b(\d)\s*[x×]\s*\1\b", text)
    k = int(kernel[1]) if kernel else None
    reduce = bool(re.search(r"reduc|\bred\b|\dred", text))
    proj = bool(re.search(r"proj", text))
    pool = bool(re.search(r"pool", text))
    if n:
        b = int(n[1])
        first = (b == 4 and pool and not proj) or (b in (2, 3) and (reduce or k == 1))
        return b, 0 if first else -1, f"branch{b}" + (" first layer" if first else "")
    if proj:
        return 4, -1, "pool proj branch"
    if pool:
        return 4, 0, "pool branch"
    if k in (3, 5):
        b = 2 if k == 3 else 3
        return b, 0 if reduce else -1, f"{k}x{k}{' reduce' if reduce else ''} branch"
    if k == 1:
        return 1, -1, "1x1 branch"
    return None


def _stated_window(label: str) -> tuple[int, int] | None:
    """The kernel a row's label states ('3x3 conv', 'max pool 3x3/2', 'conv 1×7'): (height, width), or None."""
    m = re.search(r"(?<![\d.x×])(\d{1,2})\s*[x×]\s*(\d{1,2})(?![\d.]|\s*[x×])", label)
    return (int(m[1]), int(m[2])) if m else None


def _no_op(r: LayerRow) -> bool:
    return r.leaf and not r.params and bool(r.input_shape) and r.input_shape == r.output_shape


def align(
    table: Table, summary: ModelSummary, failed: LayerRow | None = None, reason: str = "", convention: str = "torch"
) -> tuple[list[Expected | str | None], list[str]]:
    """Each table row's model counterpart, why it has none, or None for rows after the layer that cannot exist;
    and notes on model layers left out."""
    m = _Matcher(summary, failed, reason, convention)
    kinds = [label_kind(row.label, m.block_types) for row in table.rows]
    informative = any(k not in (None, "input", "total", "trainable", "nontrainable") for k in kinds)
    out: list[Expected | str | None] = []
    stopped = False
    context: LayerRow | None = None  # the inception module named by the rows above, for branch rows that do not
    for row, kind in zip(table.rows, kinds):
        named = None if stopped else m.named(row.label, context)
        context = named[1] if named else None
        if named is not None and named[0] is not None:
            stopped = isinstance(named[0], Expected) and bool(named[0].cannot)
            out.append(named[0])
            continue
        hit = None if stopped else m.match(kind if kind or informative else "any", row.label)
        stopped = stopped or (isinstance(hit, Expected) and bool(hit.cannot))
        out.append(hit)
    return out, m.left_out()
