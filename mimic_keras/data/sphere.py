"""Audio readers for TIMIT: NIST SPHERE and RIFF WAV in NumPy, other formats through tensorflow-io.

TIMIT's `.WAV` files are NIST SPHERE: a text header

    NIST_1A
       1024
    sample_count -i 46797
    sample_rate -i 16000
    ...
    end_head

padded to the size on its second line, then the samples. Only uncompressed PCM is read here:
shorten-compressed SPHERE (`sample_coding` ending in `embedded-shorten-...`, as on some LDC
discs) must be converted first with `sph2pipe`. Converted copies in RIFF WAV are read too.
Anything else (FLAC, Ogg, ...) goes through tensorflow-io when the `tfio` extra is installed;
the default path never imports it.
"""

import os

import numpy as np

SPHERE_MAGIC = b"NIST_1A"
_BYTE_ORDERS = {"01": "<", "0123": "<", "10": ">", "3210": ">", "1": "<"}
_PCM_DTYPES = {1: "i1", 2: "i2", 4: "i4"}


class AudioFormatError(ValueError):
    """An audio file that cannot be read as it is; the message names the file."""


def read_sphere_header(path, data=None):
    """Parses a NIST SPHERE header.

    Args:
        path: the file (also used in error messages).
        data: the file's bytes, when already read.

    Returns:
        A dict of the header's fields (`-i` as int, `-r` as float, `-sN` as str), plus
        `header_bytes`, the header size from its second line.

    Raises:
        AudioFormatError: not SPHERE, a truncated header, a bad size line, a malformed field
            or no `end_head`.
    """
    if data is None:
        with open(path, "rb") as f:
            data = f.read(1024)
            size_line = data[8:16].split(b"\n", 1)[0].strip()
            if size_line.isdigit() and int(size_line) > len(data):
                data += f.read(int(size_line) - len(data))
    if not data.startswith(SPHERE_MAGIC + b"\n"):
        raise AudioFormatError(f"{path}: not a NIST SPHERE file (no NIST_1A header)")
    size_line = data[8:16].split(b"\n", 1)[0].strip()
    if not size_line.isdigit():
        raise AudioFormatError(f"{path}: malformed SPHERE header size line {size_line!r}")
    header_bytes = int(size_line)
    if header_bytes < 16 or len(data) < header_bytes:
        raise AudioFormatError(f"{path}: truncated SPHERE header ({len(data)} bytes, header size {header_bytes})")
    fields = {"header_bytes": header_bytes}
    lines = data[:header_bytes].decode("ascii", errors="replace").split("\n")[2:]
    for line in lines:
        line = line.rstrip("\r")
        if line.strip() == "end_head":
            return fields
        if not line.strip() or line.startswith(";"):
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3:
            raise AudioFormatError(f"{path}: malformed SPHERE header field {line.strip()!r}")
        key, kind, value = parts
        try:
            if kind == "-i":
                fields[key] = int(value)
            elif kind == "-r":
                fields[key] = float(value)
            elif kind.startswith("-s") and kind[2:].isdigit():
                fields[key] = value.rstrip()
            else:
                raise ValueError(kind)
        except ValueError:
            raise AudioFormatError(f"{path}: malformed SPHERE header field {line.strip()!r}") from None
    raise AudioFormatError(f"{path}: SPHERE header has no end_head within its {header_bytes} bytes")


def _sphere_layout(path, header, file_size):
    """Checks a SPHERE header against the file and returns (dtype, channels, count)."""
    for key in ("sample_count", "sample_rate", "sample_n_bytes"):
        if key not in header:
            raise AudioFormatError(f"{path}: SPHERE header lacks {key}")
    coding = str(header.get("sample_coding", "pcm"))
    byte_format = str(header.get("sample_byte_format", "1" if header["sample_n_bytes"] == 1 else ""))
    if "shorten" in coding or byte_format.startswith("shortpack"):
        raise AudioFormatError(
            f"{path}: shorten-compressed SPHERE (sample_coding {coding!r}); convert it to PCM first, "
            f"e.g. `sph2pipe -f sph IN OUT` (or `sph2pipe -f wav IN OUT.wav`)"
        )
    if coding != "pcm":
        raise AudioFormatError(f"{path}: unsupported SPHERE sample_coding {coding!r} (only pcm is read)")
    n_bytes = header["sample_n_bytes"]
    if n_bytes not in _PCM_DTYPES:
        raise AudioFormatError(f"{path}: unsupported sample_n_bytes {n_bytes}")
    if byte_format not in _BYTE_ORDERS or len(byte_format) != n_bytes:
        raise AudioFormatError(f"{path}: sample_byte_format {byte_format!r} does not fit sample_n_bytes {n_bytes}")
    channels = header.get("channel_count", 1)
    count = header["sample_count"]
    if channels < 1 or count < 0:
        raise AudioFormatError(f"{path}: bad channel_count {channels} or sample_count {count}")
    expected = header["header_bytes"] + count * channels * n_bytes
    if file_size != expected:
        raise AudioFormatError(
            f"{path}: sample_count {count} x {channels} channel(s) x {n_bytes} bytes + "
            f"{header['header_bytes']}-byte header = {expected} bytes, but the file has {file_size}"
        )
    return np.dtype(_BYTE_ORDERS[byte_format] + _PCM_DTYPES[n_bytes]), channels, count


def read_sphere(path):
    """Reads a PCM NIST SPHERE file.

    Returns:
        `(samples, sample_rate, header)`: integer samples `[N]` (mono) or `[N, C]`, in native
        byte order, the rate in Hz and the header dict.
    """
    with open(path, "rb") as f:
        data = f.read()
    header = read_sphere_header(path, data)
    dtype, channels, count = _sphere_layout(path, header, len(data))
    samples = np.frombuffer(data, dtype, count * channels, header["header_bytes"]).astype(dtype.newbyteorder("="))
    if channels > 1:
        samples = samples.reshape(count, channels)
    return samples, int(header["sample_rate"]), header


def _riff_chunks(path, data):
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{path}: RIFF file is not WAVE")
    pos, chunks = 12, {}
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if pos + 8 + size > len(data):
            raise AudioFormatError(f"{path}: WAV chunk {cid!r} of {size} bytes runs past the end of the file (truncated?)")
        chunks.setdefault(cid, data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    return chunks


def read_riff_wav(path):
    """Reads a PCM (8/16/32-bit int) or 32-bit float RIFF WAV file.

    Returns:
        `(samples, sample_rate, header)` as `read_sphere`, header holding the `fmt ` fields.
    """
    with open(path, "rb") as f:
        data = f.read()
    chunks = _riff_chunks(path, data)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise AudioFormatError(f"{path}: WAV file lacks a fmt or data chunk")
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise AudioFormatError(f"{path}: WAV fmt chunk too short")
    tag, channels, rate = int.from_bytes(fmt[0:2], "little"), int.from_bytes(fmt[2:4], "little"), int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the subformat GUID
        tag = int.from_bytes(fmt[24:26], "little")
    if tag == 1 and bits in (8, 16, 32):
        dtype = np.dtype({8: "u1", 16: "<i2", 32: "<i4"}[bits])
    elif tag == 3 and bits == 32:
        dtype = np.dtype("<f4")
    else:
        raise AudioFormatError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits)")
    body = chunks[b"data"]
    frame_bytes = dtype.itemsize * max(channels, 1)
    if channels < 1 or len(body) % frame_bytes:
        raise AudioFormatError(f"{path}: WAV data chunk of {len(body)} bytes is not whole frames of {channels} channel(s)")
    samples = np.frombuffer(body, dtype).astype(dtype.newbyteorder("="))
    if bits == 8:
        samples = (samples.astype(np.int16) - 128).astype(np.int8)
    if channels > 1:
        samples = samples.reshape(-1, channels)
    return samples, rate, {"format_tag": tag, "channel_count": channels, "sample_rate": rate, "bits": bits}


def _read_with_tfio(path):
    try:
        import tensorflow_io as tfio
    except ImportError:
        raise AudioFormatError(
            f"{path}: neither SPHERE nor RIFF WAV; other formats (FLAC, Ogg, MP3) need the tfio extra: "
            f"pip install -r requirements-tfio.txt -e '.[test]'"
        ) from None
    try:
        audio = tfio.audio.AudioIOTensor(path)
        samples = audio.to_tensor().numpy()
    except Exception as e:  # tensorflow-io raises assorted op errors
        raise AudioFormatError(f"{path}: tensorflow-io could not decode it ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if samples.ndim == 2 and samples.shape[1] == 1:
        samples = samples[:, 0]
    return samples, int(audio.rate.numpy()), {"decoder": "tensorflow-io", "dtype": str(audio.dtype)}


def to_float(samples):
    """Integer PCM (or float) samples → float32 in [-1, 1)."""
    if samples.dtype.kind == "f":
        return samples.astype(np.float32)
    return samples.astype(np.float32) / float(2 ** (8 * samples.dtype.itemsize - 1))


def read_audio(path, sample_rate=16000):
    """Reads one mono utterance as float32 samples in [-1, 1).

    SPHERE and RIFF WAV are read with NumPy; other formats need the `tfio` extra.

    Args:
        path: the audio file.
        sample_rate: the rate the caller needs; a file at another rate is an error (no
            silent resampling). None accepts any rate.

    Returns:
        `(samples, rate)`: a float32 array `[N]` and its rate in Hz.

    Raises:
        AudioFormatError: unreadable, multi-channel or at the wrong rate; the message names
            the file.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(12)
    except OSError as e:
        raise AudioFormatError(f"{path}: cannot open audio ({e.strerror})") from None
    if magic.startswith(SPHERE_MAGIC):
        samples, rate, _ = read_sphere(path)
    elif magic.startswith(b"RIFF"):
        samples, rate, _ = read_riff_wav(path)
    elif not magic:
        raise AudioFormatError(f"{path}: empty file")
    else:
        samples, rate, _ = _read_with_tfio(os.fspath(path))
    if samples.ndim != 1:
        raise AudioFormatError(f"{path}: {samples.shape[1]} channels; TIMIT audio must be mono")
    if sample_rate is not None and rate != sample_rate:
        raise AudioFormatError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    return to_float(samples), rate
