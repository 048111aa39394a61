"""The main job (README's first command: scripts/demo.sh -> scripts/run_sample.py), on a small area.

It runs the shipped model headless and writes every file the README's table lists (a README row
naming a file that is not written fails here, and so does a file that is missing), with figures
that hold a drawing and a report.html whose tables carry the scores of summary.json beside the
papers' figures.
"""

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO


def _readme_files():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### The main job") :]
    section = section[: section.index("\n#", 1)]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
                match = re.match(r"(.*)\{(.*)\}(.*)", name)
                names += [match[1] + part + match[3] for part in match[2].split(",")] if match else [name]
    return names


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_sample.py"), "--out", str(out), "--points", "1500",
         "--dates", "40", "--epochs", "3"],
        capture_output=True, text=True, timeout=600,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(out)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout


def test_the_main_job_writes_every_file_the_readme_lists(demo):
    out, stdout = demo
    names = _readme_files()
    assert len(names) >= 25 and "report.html" in names and "fig_attention.png" in names
    missing = [n for n in names if not (out / n).is_file()]
    assert not missing, missing
    for name in names:
        if name.endswith(".png"):
            assert (out / name).stat().st_size > 20_000, name  # a drawing, not an empty canvas
    # progress as it goes: each step with its time
    for step in ("1 sample study area", "2 prepare -> PCA", "3 spatio-temporal filter", "5 figures"):
        assert step in stdout, stdout


def test_the_report_puts_this_runs_scores_beside_the_papers(demo):
    out, _ = demo
    summary = json.loads((out / "summary.json").read_text())
    html = (out / "report.html").read_text(encoding="utf-8")
    for label, scores in summary["scores"].items():
        assert f"{scores['stable_rms_mm']:.2f}" in html, label
        assert f"{scores['bowl_velocity_rmse_mm_per_year']:.2f}" in html, label
    for figure in ("2.90", "2.70", "1.40", "3.85", "2.23", "1.75", "22 %"):  # Chen et al. 2023; Cao et al.
        assert figure in html, figure
    assert "Chen et al. 2023" in html and "Cao et al., Table 3" in html
    assert f"{summary['amlstm_gain_pct_of_mean_rmse']:.1f} %" in html
    for name in re.findall(r"src='([^']+)'", html):
        assert (out / name).is_file(), name
    # scored against the planted truth: the PCA method beats raw in the stable area
    assert summary["scores"]["PCA method"]["stable_rms_mm"] < summary["scores"]["raw"]["stable_rms_mm"]
