"""Datasets for cnnlab: load by name, split, adapt to a network's input, and batch on a device.

    from cnnlab.data import load_dataset, DeviceLoader, Augment
    ds = load_dataset("cifar10", val=0.1, seed=0)
    train = DeviceLoader.from_dataset(ds, "train", batch_size=128, augment=Augment(crop_padding=4, hflip=True),
                                      device="cuda", seed=0)
    for x, y in train: ...

Images are uint8 (N, C, H, W) torch tensors; see `Dataset`.
"""

from cnnlab.data.adapt import adapt
from cnnlab.data.augment import Augment, normalize, random_crop, random_hflip
from cnnlab.data.cache import Entry, entries
from cnnlab.data.dataset import Dataset, cache_dir, channel_stats, dataset_names, load_dataset
from cnnlab.data.loader import DeviceLoader
from cnnlab.data.sources import data_root, download_file, safe_extract
from cnnlab.data.splits import limit_indices, stratified_split, stratified_subset
from cnnlab.data.tasks import DROP, Task, get_task, list_tasks, register_task

__all__ = [
    "DROP",
    "Augment",
    "Dataset",
    "DeviceLoader",
    "Entry",
    "Task",
    "adapt",
    "cache_dir",
    "channel_stats",
    "data_root",
    "dataset_names",
    "download_file",
    "entries",
    "get_task",
    "limit_indices",
    "list_tasks",
    "load_dataset",
    "normalize",
    "random_crop",
    "random_hflip",
    "register_task",
    "safe_extract",
    "stratified_split",
    "stratified_subset",
]
