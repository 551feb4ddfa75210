import io
import json
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from mimic_keras import predict
from mimic_keras.config import MimicConfig
from mimic_keras.export import export_image_classifier
from mimic_keras.models.mimics import build_mimic
from tests.helpers import toy_images

CLASSES = [f"class_{i}" for i in range(10)]


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16))
    x, _ = toy_images(6)
    path = export_image_classifier(model, str(root / "saved_models"), "toy", class_names=CLASSES,
                                   tflite=("float32",))
    images = root / "images"
    os.makedirs(images / "sub")
    for i in range(3):
        Image.fromarray(x[i]).save(images / ("sub" if i == 2 else "") / f"img{i}.png")
    Image.fromarray(np.repeat(np.repeat(x[3], 2, 0), 2, 1)).save(images / "big.jpg")  # 64×64: resized
    (images / "broken.jpg").write_bytes(b"not an image")
    with tarfile.open(root / "more.tar", "w") as tar:
        for i in (4, 5):
            buf = io.BytesIO()
            Image.fromarray(x[i]).save(buf, format="PNG")
            info = tarfile.TarInfo(f"t/img{i}.png")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
    return model, x, path, root


def _lines(out):
    return [json.loads(line) for line in out.strip().splitlines()]


def test_files_folders_and_tars_get_one_line_each_and_a_bad_file_an_error(toy_export, capsys):
    model, x, path, root = toy_export
    code = predict.main([path, str(root / "images"), str(root / "more.tar")])
    captured = capsys.readouterr()
    lines = {os.path.relpath(line["input"], root): line for line in _lines(captured.out)}
    assert sorted(lines) == ["images/big.jpg", "images/img0.png", "images/img1.png", "images/sub/img2.png",
                             "more.tar/t/img4.png", "more.tar/t/img5.png"]
    logits = model.predict(x, verbose=0)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for name, i in (("images/img0.png", 0), ("images/sub/img2.png", 2), ("more.tar/t/img5.png", 5)):
        assert lines[name]["class"] == CLASSES[probs[i].argmax()]
        assert lines[name]["probability"] == pytest.approx(probs[i].max(), abs=1e-4)
    assert code == 1  # the broken file: named on stderr, the others still classified
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: {root / 'images' / 'broken.jpg'}: cannot decode image")


def test_top_k_and_the_litert_file_agree_with_the_saved_model(toy_export, capsys):
    _, _, path, root = toy_export
    image = str(root / "images" / "img1.png")
    assert predict.main([path, image, "--top", "3"]) == 0
    (saved,) = _lines(capsys.readouterr().out)
    assert [t["class"] for t in saved["top"]][0] == saved["class"] and len(saved["top"]) == 3
    assert saved["top"][0]["probability"] >= saved["top"][1]["probability"] >= saved["top"][2]["probability"]
    assert predict.main([os.path.join(path, "litert", "float32.tflite"), image]) == 0
    (lite,) = _lines(capsys.readouterr().out)
    assert lite["class"] == saved["class"] and lite["probability"] == pytest.approx(saved["probability"], abs=1e-4)


def test_the_served_models_folder_means_its_newest_version(toy_export):
    _, _, path, _ = toy_export
    assert predict.resolve(os.path.dirname(path)) == (path, None)


def test_a_path_that_is_no_export_is_one_clear_line(tmp_path, capsys):
    assert predict.main([str(tmp_path), "x.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an export" in err[0]


def test_quick_preset_export_classifies_an_image_file(tiny_run, tmp_path, capsys):
    """What a newcomer runs after the quick preset: `predict saved_models/<name>/1 some.jpg`."""
    workdir, exports, _ = tiny_run
    x, _ = toy_images(1)
    Image.fromarray(x[0]).save(tmp_path / "some.jpg")
    from mimic_keras.data import cifar10

    for model in (os.path.join(exports, "run", "1"), workdir):
        assert predict.main([model, str(tmp_path / "some.jpg")]) == 0
        (line,) = _lines(capsys.readouterr().out)
        assert line["class"] in cifar10.CLASSES and 0 < line["probability"] <= 1
