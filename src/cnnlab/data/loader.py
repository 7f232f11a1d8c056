"""DeviceLoader: batches from a split held whole on one device, with resumable seeded shuffling.

Small image datasets fit in GPU memory as uint8 (CIFAR-10 train is 150 MB), so batches are cut by indexing on
the device instead of collating per-sample tensors in worker processes: no per-image Python work at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from cnnlab.data.augment import Augment, alternate_flip, to_inputs
from cnnlab.data.dataset import Dataset
from cnnlab.errors import CnnlabError


class DeviceLoader:
    """Yields (float images, int64 labels) batches; images are augmented, scaled (to 0..1 by default), then normalised.

    Shuffling and augmentation draw from one seeded CPU generator. `state_dict()` records the generator state at
    the start of the current epoch and now, plus the batch position, so `load_state_dict()` on a new loader
    resumes mid-epoch with exactly the batches the original run would have produced. Iterate one pass at a time.

    Sharded across `world` ranks (data-parallel training), every rank draws the same shuffled order and the same
    augmentation for the whole global batch of `batch_size` images, and keeps its contiguous slice of it (as
    torch.tensor_split cuts it: the first ranks get one image more when the batch does not divide evenly). So
    each epoch shows every image once over all ranks (as DistributedSampler does), the ranks' slices put together
    are exactly the batch one process would train on, augmentation included, and the state (a position in global
    batches) is the same on every rank and can be restored with any number of ranks. `share` is the slice's part
    of the batch times `world` (1.0 for an even split): a rank's mean loss scaled by it, averaged over ranks as
    DDP averages gradients, is the mean loss over the global batch.

    `small=((h, w), steps)` resizes the inputs of the run's first `steps` batches to h x w (antialiased bilinear,
    after augmentation): progressive resizing, cheap early updates on small images and the last ones at full size.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        batch_size: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        augment: Augment | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        device: str | torch.device | None = None,
        seed: int = 0,
        scale: float = 1 / 255,
        memory_format: torch.memory_format = torch.contiguous_format,
        rank: int = 0,
        world: int = 1,
        small: tuple[tuple[int, int], int] | None = None,
    ) -> None:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise CnnlabError(f"DeviceLoader takes uint8 (N, C, H, W) images, got {x.dtype} of shape {tuple(x.shape)}")
        if len(x) != len(y):
            raise CnnlabError(f"DeviceLoader got {len(x)} images but {len(y)} labels: pass matching splits")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise CnnlabError(f"batch_size must be a positive integer, not {batch_size!r}")
        if not 0 <= rank < world or batch_size < world:
            raise CnnlabError(
                f"a batch of {batch_size} cannot be shared by {world} ranks (this is rank {rank}): "
                "give every rank at least one image (raise --batch-size or use fewer processes)"
            )
        self.device = torch.device(device) if device is not None else x.device
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.mean, self.std, self.augment, self.scale = mean, std, augment, scale
        self.memory_format = memory_format
        self.rank, self.world, self.share = rank, world, 1.0
        self.small = small
        self._gen = torch.Generator().manual_seed(seed)
        self._epoch_rng = self._gen.get_state()
        self._order = torch.arange(len(x))
        self._position = 0
        self._resume = False
        self._epochs_started = 0
        # altflip: which images are mirrored in the first epoch, from a generator of its own (other runs' streams
        # stay as they were)
        self._first_flip = (
            (torch.rand(len(x), generator=torch.Generator().manual_seed(seed + 1)) < 0.5).to(self.device)
            if augment is not None and augment.altflip
            else None
        )

    @classmethod
    def from_dataset(cls, dataset: Dataset, split: str = "train", **kwargs: Any) -> DeviceLoader:
        """A loader over `dataset.split(split)` normalised with the dataset's train mean/std."""
        x, y = dataset.split(split)
        return cls(x, y, mean=dataset.mean, std=dataset.std, **kwargs)

    def __len__(self) -> int:
        n, b = len(self.x), self.batch_size
        drop = self.drop_last or 0 < n % b < self.world  # a last batch too small to give every rank an image
        return n // b if drop else -(-n // b)

    def _new_order(self) -> torch.Tensor:
        return torch.randperm(len(self.x), generator=self._gen) if self.shuffle else torch.arange(len(self.x))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self._resume:
            self._epoch_rng = self._gen.get_state()
            self._order = self._new_order()
            self._position = 0
            self._epochs_started += 1
        self._resume = False
        while self._position < len(self):
            start = self._position * self.batch_size
            # non_blocking: a GPU need not finish its queued work before the indices are copied (on the CPU: no copy)
            idx = self._order[start : start + self.batch_size].to(self.device, non_blocking=True)
            self._position += 1
            yield self._batch(idx)

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mine = self._slice(len(idx))
        if self.augment is None:
            idx = idx[mine]  # nothing random per image: this rank's images alone
        x = self.x.index_select(0, idx)
        if self.augment is not None:  # the whole global batch, so every rank draws the same numbers
            x = self.augment(x, self._gen)
            if self._first_flip is not None:
                x = alternate_flip(x, self._first_flip[idx], self._epochs_started - 1)
            x, idx = x[mine], idx[mine]
        x = to_inputs(x, self.scale, self.mean, self.std)
        if self.small is not None and self._step() < self.small[1]:
            x = F.interpolate(x, size=self.small[0], mode="bilinear", antialias=True)
        return x.contiguous(memory_format=self.memory_format), self.y.index_select(0, idx)

    def _step(self) -> int:
        """The index of the batch being made, counted over all epochs from the first (the same on resuming)."""
        return (self._epochs_started - 1) * len(self) + self._position - 1

    def _slice(self, n: int) -> slice:
        """This rank's contiguous part of a global batch of `n` (all of it for one process); sets `share`."""
        if self.world == 1:
            return slice(0, n)
        size, extra = divmod(n, self.world)
        start = self.rank * size + min(self.rank, extra)
        local = size + (self.rank < extra)
        self.share = local * self.world / n
        return slice(start, start + local)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue from here: generator states and the position within the epoch."""
        in_epoch = 0 < self._position < len(self)
        return {
            "num_samples": len(self.x),
            "batch_size": self.batch_size,
            "epoch_rng": self._epoch_rng.clone(),
            "rng": self._gen.get_state(),
            "position": self._position if in_epoch else 0,
            "epochs_started": self._epochs_started,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()`; the next iteration continues the interrupted epoch (or starts the next)."""
        if (state["num_samples"], state["batch_size"]) != (len(self.x), self.batch_size):
            raise CnnlabError(
                f"loader state is for {state['num_samples']} samples in batches of {state['batch_size']}, "
                f"this loader has {len(self.x)} in batches of {self.batch_size}: "
                "resume with the same data and batch size"
            )
        self._epochs_started = state.get("epochs_started", 0)  # runs from before altflip did not count
        if state["position"]:
            self._gen.set_state(state["epoch_rng"])
            self._epoch_rng = state["epoch_rng"].clone()
            self._order = self._new_order()
            self._position = state["position"]
            self._resume = True
        self._gen.set_state(state["rng"])
