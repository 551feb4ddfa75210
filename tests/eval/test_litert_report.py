import json
import os

from mimic_keras import fit
from mimic_keras.eval import litert_report


def test_export_scores_each_litert_variant_beside_the_keras_model(tiny_copy, capsys):
    workdir, args = tiny_copy
    exports = next(a for a in args if a.startswith("export.dir="))  # the copy's, not the shared run's
    assert fit.main(["export", "--workdir", workdir, exports, "export.tflite=float32,dynamic,int8"]) == 0
    out = capsys.readouterr().out
    with open(os.path.join(workdir, "litert.json")) as f:
        results = json.load(f)["mimic"]
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    mimic_row = next(r for r in report["models"] if r["model"] == "mimic")
    assert results["keras"]["test_accuracy"] == mimic_row["test_accuracy"]  # the same test split, the same model
    assert results["interpreter"] == "ai_edge_litert"
    assert set(results["variants"]) == {"float32", "dynamic", "int8"}
    float32 = results["variants"]["float32"]
    assert float32["test_accuracy"] == results["keras"]["test_accuracy"] and not float32["flagged"]
    for v in results["variants"].values():
        assert v["bytes"] == os.path.getsize(v["path"]) > 0
        assert v["flagged"] == ((results["keras"]["test_accuracy"] - v["test_accuracy"]) * 100 > 1.0 + 1e-9)
    assert "LiteRT variants on the test split" in out  # fit prints the table after the run
    assert "| mimic | int8 |" in open(os.path.join(workdir, "litert.md")).read()
    with open(os.path.join(workdir, "export.json")) as f:
        assert json.load(f)["mimic"].endswith(os.path.join("run", "2"))  # new files: a new version
    assert fit.main(["report", "--workdir", workdir]) == 0  # the report command shows the table too
    assert "| mimic | dynamic |" in capsys.readouterr().out
    assert fit.main(["export", "--force", "--workdir", workdir, exports]) == 0  # the same model again: no new version
    with open(os.path.join(workdir, "export.json")) as f:
        assert json.load(f)["mimic"].endswith(os.path.join("run", "2"))


def test_a_lost_point_is_flagged_in_the_table():
    results = {"mimic": {"keras": {"test_accuracy": 0.80}, "variants": {
        "int8": {"test_accuracy": 0.75, "bytes": 1000, "flagged": True},
        "dynamic": {"test_accuracy": 0.80, "bytes": 2000, "flagged": False}}}}
    table = litert_report.markdown(results)
    assert "| mimic | int8 | 1,000 | 75.00% | -5.00 | — | **yes: lost > 1 points** |" in table
    assert "| mimic | dynamic | 2,000 | 80.00% | +0.00 | — | no |" in table
