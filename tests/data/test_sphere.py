import io
import os
import wave

import numpy as np
import pytest

from mimic_keras.data import sphere
from tests import timit_fixtures as fx

SAMPLES = np.array([0, 1, -1, 32767, -32768, 1234, -4321, 7], np.int16)
STANDIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "timit-standin")


def _write(tmp_path, data, name="x.wav"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_reads_pcm_sphere_in_both_byte_orders(tmp_path, byte_order):
    path = _write(tmp_path, fx.sphere_bytes(SAMPLES, byte_order=byte_order))
    samples, rate, header = sphere.read_sphere(path)
    np.testing.assert_array_equal(samples, SAMPLES)
    assert rate == 16000 and header["sample_count"] == len(SAMPLES)
    assert header["database_id"] == "TIMIT" and header["header_bytes"] == 1024
    audio, rate = sphere.read_audio(path)
    assert audio.dtype == np.float32 and rate == 16000
    np.testing.assert_array_equal(audio, SAMPLES / 32768.0)


def test_header_field_types_and_large_header(tmp_path):
    fields = {"sample_min": ("-i", -4321), "gain": ("-r", 1.5), "utterance_id": ("-s10", "dab0_sx200")}
    path = _write(tmp_path, fx.sphere_bytes(SAMPLES, fields=fields, header_size=2048))
    header = sphere.read_sphere_header(path)
    assert header["sample_min"] == -4321 and header["gain"] == 1.5 and header["utterance_id"] == "dab0_sx200"
    assert header["header_bytes"] == 2048
    np.testing.assert_array_equal(sphere.read_sphere(path)[0], SAMPLES)


def test_reads_riff_wav(tmp_path):
    path = fx.write_riff(str(tmp_path / "x.wav"), SAMPLES)
    audio, rate = sphere.read_audio(path)
    assert rate == 16000
    np.testing.assert_array_equal(audio, SAMPLES / 32768.0)


@pytest.mark.skipif(not os.path.isdir(STANDIN), reason="needs ../shared/data/timit-standin")
def test_stand_in_file_matches_libsndfile():
    soundfile = pytest.importorskip("soundfile")
    path = os.path.join(STANDIN, "TRAIN", "DR1", "FNZO0", "SX233.WAV")
    audio, rate = sphere.read_audio(path)
    expected, expected_rate = soundfile.read(path, dtype="float32")
    assert rate == expected_rate == 16000
    np.testing.assert_array_equal(audio, expected)


BAD = {
    "truncated header": (lambda: fx.sphere_bytes(SAMPLES)[:500], "truncated SPHERE header"),
    "bad size line": (lambda: fx.sphere_bytes(SAMPLES).replace(b"   1024", b"   10x4", 1), "header size"),
    "no end_head": (lambda: fx.sphere_bytes(SAMPLES).replace(b"end_head", b"        "), "no end_head"),
    "malformed field": (lambda: fx.sphere_bytes(SAMPLES, fields={"sample_count": ("-i", "many")}), "malformed"),
    "unknown field type": (lambda: fx.sphere_bytes(SAMPLES, fields={"odd": ("-x", 3)}), "malformed"),
    "count too large": (lambda: fx.sphere_bytes(SAMPLES, fields={"sample_count": ("-i", 9)}), "but the file has"),
    "file too long": (lambda: fx.sphere_bytes(SAMPLES) + b"\0\0", "but the file has"),
    "file cut short": (lambda: fx.sphere_bytes(SAMPLES)[:-3], "but the file has"),
    "no sample_rate": (lambda: fx.sphere_bytes(SAMPLES, fields={"sample_rate": None}), "lacks sample_rate"),
    "wrong rate": (lambda: fx.sphere_bytes(SAMPLES, fields={"sample_rate": ("-i", 8000)}), "8000 Hz, expected 16000"),
    "shorten": (
        lambda: fx.sphere_bytes(SAMPLES, fields={"sample_coding": ("-s26", "pcm,embedded-shorten-v2.00")}),
        "sph2pipe",
    ),
    "ulaw": (lambda: fx.sphere_bytes(SAMPLES, fields={"sample_coding": ("-s4", "ulaw")}), "sample_coding"),
    "stereo": (lambda: fx.sphere_bytes(np.r_[SAMPLES, SAMPLES], fields={"channel_count": ("-i", 2),
                                                                       "sample_count": ("-i", 8)}), "mono"),
    "byte format": (lambda: fx.sphere_bytes(SAMPLES, fields={"sample_byte_format": ("-s1", "1")}), "does not fit"),
    "empty": (lambda: b"", "empty file"),
    "riff truncated": (lambda: _riff_bytes()[:-4], "truncated"),
}


def _riff_bytes():
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(SAMPLES.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_audio_gets_a_one_line_error_naming_the_file(tmp_path, case):
    make, message = BAD[case]
    path = _write(tmp_path, make())
    with pytest.raises(sphere.AudioFormatError) as info:
        sphere.read_audio(path)
    text = str(info.value)
    assert text.startswith(path) and message in text and "\n" not in text


def test_sphere_reader_rejects_other_files(tmp_path):
    path = _write(tmp_path, b"JUNKJUNK" + fx.sphere_bytes(SAMPLES)[8:])
    with pytest.raises(sphere.AudioFormatError, match="not a NIST SPHERE"):
        sphere.read_sphere(path)


def test_other_formats_without_tfio_say_what_to_install(tmp_path):
    try:
        import tensorflow_io  # noqa: F401
        pytest.skip("tensorflow-io is installed")
    except ImportError:
        pass
    path = _write(tmp_path, b"fLaC\0\0\0\x22" + b"\0" * 64, "x.flac")
    with pytest.raises(sphere.AudioFormatError, match="tfio"):
        sphere.read_audio(path)


@pytest.mark.tfio
def test_flac_through_tensorflow_io(tmp_path):
    pytest.importorskip("tensorflow_io")
    soundfile = pytest.importorskip("soundfile")
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(4000) * 3000).astype(np.int16)
    path = str(tmp_path / "x.flac")
    soundfile.write(path, samples, 16000, subtype="PCM_16")
    audio, rate = sphere.read_audio(path)
    assert rate == 16000
    np.testing.assert_allclose(audio, samples / 32768.0, atol=1e-6)
