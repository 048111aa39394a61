"""report.html of the sample study area: the metrics tables beside the papers' figures (as
METHODS.md quotes them), then every PNG figure. Plain HTML, no script, no external file but the
PNGs beside it."""

import html
import os

# Chen et al. 2023 (Xuzhou): RMS (mm) in a non-deforming area; RMSE at 4 CORS + 5 levelling sites
CHEN_STABLE_RMS = {"raw": 2.9, "filter": 2.7, "PCA method": 1.4}
CHEN_GACOS_RMS = 2.8
CHEN_STATION_RMSE_PCA = 3.85
# Cao et al., Table 3: RMSE (mm) of the monthly deformation at six typical points
CAO_TABLE3 = [
    ("A", 15, 2.23, 1.75, 22),
    ("B", 120, 1.20, 1.10, 8),
    ("C", 40, 2.62, 2.31, 12),
    ("D", 25, 1.65, 1.49, 10),
    ("E", 151, 0.38, 0.35, 8),
    ("F", 185, 1.38, 1.23, 11),
]
FIGURES = [
    ("fig_study_area.png", "The sample study area: true LOS velocity, wells, groundwater heads of one well."),
    (
        "fig_components.png",
        "PCA components (Chen et al. 2023): maps S<sub>k</sub>W<sub>k</sub> (mm) over "
        "their temporal functions T<sub>k</sub>, with the proposed class.",
    ),
    (
        "fig_velocity.png",
        "LOS velocity before (raw) and after the PCA correction beside the truth; below, "
        "each method's velocity error against the truth.",
    ),
    (
        "fig_stations.png",
        "Mean PS series at a bowl station and a stable station: every method and the truth.",
    ),
    (
        "fig_amlstm_predictions.png",
        "Observed monthly deformation around each well and every model's prediction (test months shaded).",
    ),
    ("fig_attention.png", "AM-LSTM input attention per well and aquifer layer."),
]
STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:1em auto;color:#222}"
    "table{border-collapse:collapse;margin:0.4em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
    "text-align:right}th{background:#eee}td:first-child{text-align:left}"
    ".pair{display:flex;gap:2em;align-items:flex-start;flex-wrap:wrap}.pair>div{flex:1 1 420px}"
    "img{max-width:100%;border:1px solid #ccc}figcaption{font-size:0.9em;color:#555;margin-bottom:1.5em}"
    "p.note{font-size:0.9em;color:#444}"
)


def _table(header, rows):
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
    return "".join(out) + "</table>"


def _cell(value):
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1e5 else f"{value:.2e}"
    return str(value)


def _pca_section(scores):
    ours = []
    for label in ("raw", "filter", "PCA method"):
        s = scores[label]
        ours.append(
            (label, s["stable_rms_mm"], s["bowl_velocity_rmse_mm_per_year"], s["station_rmse_mm"]["ALL"])
        )
    raw = scores["raw"]["stable_rms_mm"]
    pca = scores["PCA method"]["stable_rms_mm"]
    paper = [
        (label, CHEN_STABLE_RMS[label], None if label != "PCA method" else CHEN_STATION_RMSE_PCA)
        for label in ("raw", "filter", "PCA method")
    ]
    paper.insert(2, ("GACOS", CHEN_GACOS_RMS, None))
    return (
        "<h2>Error removal: raw / spatio-temporal filter / PCA method</h2><div class='pair'><div>"
        "<h3>This run (sample study area, scored against the planted truth)</h3>"
        + _table(
            [
                "method",
                "stable-area RMS (mm)",
                "deforming-area velocity error (mm/yr)",
                "stations, pooled RMSE (mm)",
            ],
            ours,
        )
        + f"<p class='note'>Stable-area RMS drops {100 * (1 - pca / raw):.0f} % from raw to the PCA method. "
        "Stable-area RMS: over every truly stable point and date, of the series minus the true "
        "deformation. Deforming-area velocity error: RMSE of the velocity against the true velocity "
        "over the inner half of the subsidence bowls. Stations: <code>validatebenchmarks</code>, mean "
        "PS series within 300 m against a GNSS-like series (truth + 1 mm noise), two stations at bowl "
        "centres and two on stable ground.</p></div><div>"
        "<h3>Chen et al. 2023 (Xuzhou, METHODS.md &sect;3)</h3>"
        + _table(["method", "RMS in a non-deforming area (mm)", "RMSE at 4 CORS + 5 levelling (mm)"], paper)
        + "<p class='note'>The paper does not give a velocity error against truth (it has none); it "
        "reports the mean velocity standard deviation, 2.2 &rarr; 0.9 mm/yr, and a 10-57 % gain of the "
        "PCA method at GNSS sites. GACOS is not part of this plugin.</p></div></div>"
    )


def _amlstm_section(amlstm):
    tables, mean, gain = amlstm["tables"], amlstm["mean_rmse_mm"], amlstm["gain_pct"]
    models = ("amlstm", "lstm", "physical", "linear", "trend", "persistence")
    rows = []
    for well in tables["wells"]:
        m = tables["metrics"][well]
        rows.append(
            [well, tables["counts"].get(well, 0)]
            + [m[k]["rmse_mm"] for k in models]
            + [f"{m['amlstm']['gain_pct']:.1f} %"]
        )
    rows.append(["mean", ""] + [mean[k] for k in models] + [f"{gain:.1f} %"])
    attention = [
        [well] + [tables["attention"][well][layer] for layer in tables["layers"]] for well in tables["wells"]
    ]
    cao = [(p, n, lstm, am, f"{g} %") for p, n, lstm, am, g in CAO_TABLE3]
    return (
        "<h2>AM-LSTM simulation: every model's RMSE and the AM-LSTM gain</h2><div class='pair'><div>"
        "<h3>This run (monthly deformation around each well, test months)</h3>"
        + _table(
            [
                "well",
                "PS in buffer",
                "AM-LSTM",
                "LSTM",
                "physical",
                "linear (ridge)",
                "trend",
                "persistence",
                "AM-LSTM gain over LSTM",
            ],
            rows,
        )
        + "<p class='note'>RMSE in mm per month on the chronological test months. Gain = (RMSE<sub>LSTM"
        "</sub> - RMSE<sub>AM-LSTM</sub>) / RMSE<sub>LSTM</sub>, per well and for the mean RMSE."
        + "".join(
            f" <b>{html.escape(m)} diverged at {html.escape(w)}</b> (RMSE over ten times persistence's; "
            "its mean is meaningless)."
            for w, m in amlstm["diverged"]
        )
        + "</p></div>"
        "<div><h3>Cao et al., Table 3 (east of Beijing plain, METHODS.md &sect;5)</h3>"
        + _table(["point", "PS in buffer", "LSTM", "AM-LSTM", "gain"], cao)
        + "<p class='note'>The paper compares the LSTM and the AM-LSTM only (gain 8-22 %); the physical, "
        "linear, trend and persistence baselines are this plugin's.</p></div></div>"
        f"<h3>Mean attention weight per well and layer (the synthetic subsidence follows "
        f"<b>{html.escape(amlstm['dominant_layer'])}</b>)</h3>"
        + _table(["well"] + list(tables["layers"]), attention)
    )


def write_html(out, summary, amlstm, run_info):
    """Write ``out/report.html``; returns its path."""
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Subsidence Lab sample study area"
        f"</title><style>{STYLE}</style></head><body>",
        "<h1>Subsidence Lab: the sample study area through the shipped pipeline model</h1>",
        f"<p>{html.escape(run_info)}</p>",
        _pca_section(summary["scores"]),
        _amlstm_section(amlstm),
        "<h2>Figures</h2>",
    ]
    for name, caption in FIGURES:
        if os.path.exists(os.path.join(out, name)):
            parts.append(
                f"<figure><img src='{name}' alt='{name}'><figcaption>{name}: {caption}</figcaption></figure>"
            )
    parts.append("</body></html>")
    target = os.path.join(out, "report.html")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts))
    return target
