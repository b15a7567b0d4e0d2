"""`speech2face compare`: probe tables written and read back, differences paired over the
shared identities (checked against a direct computation), and the errors it gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speech2face.cli import main
from speech2face.errors import UserError
from speech2face.evaluation.compare import compare_reports
from speech2face.evaluation.probes import probes_file, read_probes, write_probes


def _report(folder, ids, hits, genders, answers, system="speech2face"):
    folder.mkdir()
    key = {"speech2face": {"protocols": {}, "bundle": "/x/bundle"}, "wav2pix": {"run": "/x/run"}}
    (folder / "metrics.json").write_text(json.dumps(key[system]))
    values = {"identity_recall1": hits, "matching": np.where(hits, 0.9, 0.4)}
    values["matching"][0] = np.nan
    labels = {"gender": genders, "gender_decoded_face_from_voice": answers}
    write_probes(probes_file(folder, "test"), ids, values, labels)


def _case(seed):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"id{i:02d}" for i in range(8)], 5)
    genders = np.repeat(list("MMMMFFFF"), 5)
    hits = (rng.random(40) < 0.6).astype(float)
    answers = np.where(rng.random(40) < 0.8, genders, "M")
    return ids, hits, genders, answers


def test_probe_table_round_trip_with_blanks_and_a_bom(tmp_path):
    ids, hits, genders, answers = _case(0)
    path = tmp_path / "probes_test.csv"
    write_probes(path, ids, {"hit": np.r_[np.nan, hits[1:]]}, {"gender": genders})
    back = read_probes(path)
    assert list(back["identity"]) == list(ids) and list(back["gender"]) == list(genders)
    assert np.isnan(back["hit"][0]) and np.array_equal(back["hit"][1:], hits[1:])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))  # Excel
    assert np.array_equal(read_probes(path)["hit"][1:], hits[1:])
    with pytest.raises(ValueError, match="3 values for 40 probes"):
        write_probes(path, ids, {"hit": hits[:3]})
    path.write_text("identity,hit\na,x\n")
    with pytest.raises(UserError, match="column 'hit'"):
        read_probes(path)


def test_compare_two_reports_paired_over_shared_identities(tmp_path, capsys):
    ids, hits, genders, answers = _case(1)
    _report(tmp_path / "a", ids, hits, genders, answers)
    ids_b, hits_b, genders_b, answers_b = _case(2)
    keep = ids_b != "id00"  # B never scored id00
    _report(tmp_path / "b", ids_b[keep], hits_b[keep], genders_b[keep], answers_b[keep], "wav2pix")
    out = tmp_path / "cmp.json"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    block = result["splits"]["test"]
    assert block["identities"] == 7
    shared = ids != "id00"
    fig = block["figures"]["identity_recall1"]
    assert fig["a"] == pytest.approx(hits[shared].mean())
    assert fig["b"] == pytest.approx(hits_b[keep].mean())
    assert fig["difference"]["value"] == pytest.approx(fig["a"] - fig["b"])
    assert fig["difference"]["n_identities"] == 7
    assert fig["difference"]["low"] <= fig["difference"]["value"] <= fig["difference"]["high"]
    g = block["figures"]["gender_decoded_face_from_voice"]
    recall = [np.mean(answers[shared & (genders == s)] == s) for s in "MF"]
    assert g["a"] == pytest.approx(np.mean(recall))
    assert "wav2pix (run)" in result["b"] and "speech2face (bundle)" in result["a"]
    assert "identity_recall1" in printed and "7 identities in both" in printed
    # a report compared with itself differs by exactly 0
    same = compare_reports(tmp_path / "a", tmp_path / "a", n_boot=50)
    d = same["splits"]["test"]["figures"]["matching"]["difference"]
    assert (d["value"], d["low"], d["high"]) == (0.0, 0.0, 0.0)


def test_compare_says_what_is_missing(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(UserError, match="not a report folder"):
        compare_reports(tmp_path / "a", tmp_path / "a")
    ids, hits, genders, answers = _case(3)
    _report(tmp_path / "b", ids, hits, genders, answers)
    (tmp_path / "a" / "metrics.json").write_text("{}")
    with pytest.raises(UserError, match="share no probe table"):
        compare_reports(tmp_path / "a", tmp_path / "b")
