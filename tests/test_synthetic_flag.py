"""A dataset flagged ``synthetic: true`` in its README says SYNTHETIC DATA in every chart title,
caption and the sidecar of a forecast made from it; charts show cumulative fans with thresholds."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.metadata import SYNTHETIC_MARK, readme_metadata, synthetic_files


def _folder(sim, tmp_path, readme: str | None):
    codes = ["NWS01", "NWS02", "NWS05"]
    obs = sim.observations[sim.observations["region"].isin(codes)]
    obs = obs[obs["date"] >= obs["date"].max() - pd.Timedelta(weeks=40)]
    tmp_path.mkdir(exist_ok=True)
    obs.assign(date=obs["date"].dt.strftime("%Y-%m-%d"))[["date", "region", "series", "value"]].to_csv(
        tmp_path / "observations.csv", index=False)
    sim.regions.frame[sim.regions.frame["code"].isin(codes)].to_csv(tmp_path / "regions.csv", index=False)
    if readme is not None:
        (tmp_path / "README.md").write_text(readme)
    return tmp_path / "observations.csv"


@pytest.fixture
def captured(monkeypatch):
    import matplotlib.pyplot as plt

    import displacement_forecast.plot.fan as fan

    figs: dict[str, dict] = {}

    def save(fig, path):
        titles = [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
        figs[path.name] = {"title": next(t for t in titles if t), "captions": [t.get_text() for t in fig.texts]}
        path.write_bytes(b"")  # the chart file exists (the data package lists it with its hash)
        plt.close(fig)

    import displacement_forecast.plot.writer as writer

    monkeypatch.setattr(fan, "save_figure", save)
    monkeypatch.setattr(writer, "save_figure", save)  # the plots writer's own name for it
    return figs


def _forecast(data, out, scen=None):
    extra = ["--scenarios", str(scen)] if scen else []
    return main(["forecast", str(data), "--model", "last-value", "--horizon", "3", "--draws", "60",
                 "--thresholds", "1000,250000", "--out", str(out), *extra])


def test_synthetic_flag_reaches_every_title_caption_and_the_sidecar(sim, tmp_path, captured, capsys):
    data = _folder(sim, tmp_path / "syn", "---\nsynthetic: true\n---\n# Made up\n")
    scen = tmp_path / "s.toml"
    scen.write_text('[[scenario]]\nid = "baseline"\n[[scenario]]\nid = "ceasefire"\n  [[scenario.change]]\n  multiply = 0\n')
    assert _forecast(data, tmp_path / "out", scen) == 0
    (said,) = [ln for ln in capsys.readouterr().err.splitlines() if SYNTHETIC_MARK in ln]  # on screen too
    assert said.startswith(f"WARNING: {SYNTHETIC_MARK}")
    assert set(captured) == {"fan_baseline.png", "fan_ceasefire.png", "cumulative_baseline.png",
                             "cumulative_ceasefire.png", "exceedance.png"}
    for name, f in captured.items():
        assert f["title"].startswith(SYNTHETIC_MARK), name
        assert f["captions"] and all(SYNTHETIC_MARK in c for c in f["captions"]), name
    assert "cumulative since the forecast start" in captured["cumulative_baseline.png"]["title"]
    assert "leave out conflict uncertainty" in captured["fan_ceasefire.png"]["captions"][0]
    assert "leave out conflict uncertainty" not in captured["fan_baseline.png"]["captions"][0]
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert side["data"]["synthetic"] is True
    assert any(w.startswith(SYNTHETIC_MARK) for w in side["warnings"])
    (cf,) = [s for s in side["scenarios"] if s["id"] == "ceasefire"]
    assert "NOT included" in cf["conflict_uncertainty"]


def test_real_data_carries_no_mark(sim, tmp_path, captured, capsys):
    data = _folder(sim, tmp_path / "real", "# Real data\n\nsynthetic: true is only read in front matter\n")
    assert _forecast(data, tmp_path / "out") == 0
    assert SYNTHETIC_MARK not in capsys.readouterr().err
    assert captured and not any(SYNTHETIC_MARK in f["title"] or any(SYNTHETIC_MARK in c for c in f["captions"])
                                for f in captured.values())
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert side["data"]["synthetic"] is False and not any(SYNTHETIC_MARK in w for w in side["warnings"])


def test_shipped_synthetic_data_is_flagged():
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "synthetic_nw_syria" / "observations.csv"
    assert readme_metadata(data)["synthetic"] == "true" and synthetic_files([data]) == [str(data)]
    assert readme_metadata(data.parent / "nothing_here" / "x.csv") == {}


def test_shipped_example_files_are_flagged_synthetic():
    """data/examples/ (notebook 03's ACLED export and IDP report) is made by the simulator, but its
    README had no front matter: notebook 03's charts carried no SYNTHETIC DATA mark and its
    forecast.json said data.synthetic false."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "data" / "examples"
    files = sorted(str(p) for p in examples.iterdir() if p.suffix in (".csv", ".toml"))
    assert files and synthetic_files(files) == files


def test_fan_chart_regions_share_one_scale_or_say_they_do_not(fitted_nbdl):
    import matplotlib.pyplot as plt

    from displacement_forecast.plot.fan import fan_chart

    paths = fitted_nbdl.sample_paths(4, n_draws=100, seed=1)
    for shared in (True, False):
        fig = fan_chart(paths, shared_y=shared)
        regional = fig.axes[1:]
        limits = {ax.get_ylim() for ax in regional}
        if shared:
            assert len(limits) == 1
        else:
            assert len(limits) > 1 and all("own y-scale" in ax.get_title("left") for ax in regional)
        plt.close(fig)
    fig = fan_chart(paths, cumulative=True, marks=[1.0, 1e12])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("1" in t for t in texts) and any(t.startswith("above the chart: 1,000,000,000,000") for t in texts)
    plt.close(fig)
