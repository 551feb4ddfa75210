import pytest

from mimic_keras.config import TeacherConfig
from mimic_keras.models.convnet import build_teacher, teacher_param_count
from tests.helpers import run_serialization_test, toy_images


def test_paper_teacher_shape_and_params():
    teacher = build_teacher()
    x, _ = toy_images(4)
    assert teacher(x).shape == (4, 10)
    # 3 × conv128 3×3 on 32×32×3 with 'same' padding and 2×2 pooling → 4×4×128 → fc1000 → 10.
    expected = (27 + 1) * 128 + 2 * (9 * 128 + 1) * 128 + (4 * 4 * 128 + 1) * 1000 + 1001 * 10
    assert teacher.count_params() == teacher_param_count() == expected == 2_357_762


@pytest.mark.parametrize(
    "cfg",
    [
        TeacherConfig(conv_filters=(16, 32), kernel_size=5, dense_units=(64, 32), dropout=0.5),
        TeacherConfig(conv_filters=(8,), dense_units=(), weight_decay=1e-4),
    ],
)
def test_teacher_config_variants(cfg):
    teacher = build_teacher(cfg, num_classes=7)
    assert teacher.count_params() == teacher_param_count(cfg, num_classes=7)
    assert teacher.output.shape[-1] == 7


def test_convnet_round_trip(tmp_path):
    x, _ = toy_images(3)
    run_serialization_test(build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,))), x, tmp_path)
