"""CIFAR-10 from TensorFlow Datasets, prepared locally or downloaded, failing fast when offline.

TFDS retries a failed download for minutes before it gives up. When `cifar10` is not prepared
under `TFDS_DATA_DIR`, `read_tfds` first tries one connection to the download host
(`DOWNLOAD_HOST`, a few seconds at most) and, when it fails, stops at once with an error that
names the override to use instead.
"""

import os
import socket
import threading

from pipelines.cifar10_sources import Example, SourceError, first_line

DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)  # where TFDS downloads cifar-10-binary.tar.gz from
CONNECT_SECONDS = 3.0
OFFLINE = (
    "data.source=tfds needs the network to download CIFAR-10, and it is unreachable; pass data.source=PATH "
    "(a cifar-10-python.tar.gz, a cifar-10-batches-bin folder, or a class-per-folder tree/tar of images)"
)


def reachable(address=None, seconds=CONNECT_SECONDS):
    """True when a TCP connection to `address` (host, port) opens within `seconds`.

    The name lookup runs in a daemon thread, so that a resolver that hangs cannot hold the job
    longer than `seconds` either.
    """
    host, port = address or DOWNLOAD_HOST
    result = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=seconds).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(result and result[0])


def read_tfds():
    """Examples of TFDS `cifar10`, in id order, as `{"train": [...], "test": [...]}`.

    Raises:
        SourceError: tensorflow_datasets missing, the network unreachable when a download is
            needed (within `CONNECT_SECONDS`), or a failed download or preparation.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise SourceError(f"tfds: tensorflow_datasets is not installed ({first_line(e)})") from None
    # TFDS reads TFDS_DATA_DIR once, at import; the fingerprint (`identity`) reads it now.
    builder = tfds.builder("cifar10", data_dir=os.environ.get("TFDS_DATA_DIR"))
    if not builder.is_prepared():
        if not reachable():
            raise SourceError(OFFLINE)
        try:
            builder.download_and_prepare()
        except Exception as e:  # network, DNS, checksum, permission: all end the same way
            raise SourceError(
                f"data.source=tfds: cannot download or prepare cifar10 ({type(e).__name__}: {first_line(e)}); "
                "pass data.source=PATH (a cifar-10-python.tar.gz or a folder of images)"
            ) from None
    splits = {}
    for split in ("train", "test"):
        data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        ids = [i.decode() for i in data["id"]]
        splits[split] = [
            Example(f"{split}/{i}", int(label), f"tfds:cifar10/{split}/{i}", pixels=image)
            for i, image, label in sorted(zip(ids, data["image"], data["label"]), key=lambda t: t[0])
        ]
    return splits
