"""The benchmark's report: JSON (everything), Markdown (the table and the targets, also put
into the README between its bench markers) and a PNG plot of latency against load."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    s50, s200, s2p = result["scenarios"]
    pg = result["references"]["pgbench"]["claims_per_second"]
    proc = result["references"]["procrastinate"]["jobs_per_second"]
    worst50 = max(s50["endpoints"][k]["p99"] or 0 for k in ("claim", "progress", "complete"))
    steps = result["scaling"]["steps"]
    claim_1k, claim_top = steps[0]["claim_ms"]["p99"], steps[-1]["claim_ms"]["p99"]
    state_top = result["scaling"]["with_history"]["state_ms"]["p99"]
    ws = s200["websocket_ms"].get("p99")
    rss = max(s200["peak_rss_mb"] + s2p["peak_rss_mb"])
    idle = result["idle_long_poll"]["cpu_percent_of_one_core"]
    best_claims = max(s["claims_per_second"] for s in result["scenarios"])
    best_cycles = max(s["cycles_per_second"] for s in result["scenarios"])
    return [
        (f"p99 of every executor endpoint ≤ 20 ms with 50 executors: {worst50:.1f} ms",
         "≤ 20 ms", worst50 <= 20),
        (f"claims ≥ 25% of the pgbench claim limit: {best_claims:.0f}/s of {pg:.0f}/s = "
         f"{best_claims / pg:.1%}", "≥ 25%", best_claims >= 0.25 * pg),
        (f"claim→complete cycles/s ≥ Procrastinate's no-op jobs/s: {best_cycles:.0f} vs "
         f"{proc:.0f}", "≥ 1×", best_cycles >= proc),
        (f"WebSocket commit→client p99 with 1,000 connections: {_ms(ws)} ms", "≤ 100 ms",
         ws is not None and ws <= 100),
        (f"claim p99 at {steps[-1]['queued']:,} queued vs 1k: {claim_top:.1f} vs "
         f"{claim_1k:.1f} ms ({claim_top / claim_1k:.2f}×)", "≤ 1.5×",
         claim_top <= 1.5 * claim_1k),
        (f"/state p99 with {result['scaling']['with_history']['history']:,} in history: "
         f"{state_top:.1f} ms", "≤ 50 ms", state_top <= 50),
        (f"peak RSS per process under the 200-executor load: {rss:.0f} MB", "≤ 200 MB",
         rss <= 200),
        (f"200 idle long-polling executors: {idle:.2f}% of one core", "< 5%", idle < 5),
    ]


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| run | cycles/s | claims/s | claim p50/p95/p99 ms | progress p99 | complete p99 | "
        "WS p50/p99 ms | CPU % | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["scenarios"]:
        e, ws = s["endpoints"], s["websocket_ms"]
        lines.append(
            f"| {s['name']} | {s['cycles_per_second']:.0f} | {s['claims_per_second']:.0f} | "
            f"{_ms(e['claim']['p50'])}/{_ms(e['claim']['p95'])}/{_ms(e['claim']['p99'])} | "
            f"{_ms(e['progress']['p99'])} | {_ms(e['complete']['p99'])} | "
            f"{_ms(ws.get('p50'))}/{_ms(ws.get('p99'))} | "
            f"{'+'.join(f'{c:.0f}' for c in s['cpu_percent'])} | "
            f"{'+'.join(f'{r:.0f}' for r in s['peak_rss_mb'])} |")
    refs = result["references"]
    lines += [
        "",
        f"References in the same run: pgbench with our claim SQL, "
        f"{refs['pgbench']['clients']} clients: **{refs['pgbench']['claims_per_second']:.0f} "
        f"claims/s**; Procrastinate, no-op jobs, concurrency 10: "
        f"**{refs['procrastinate']['jobs_per_second']:.0f} jobs/s**.",
        "",
        "| queued intents | claim p50/p99 ms | /state p50/p99 ms |",
        "|---|---|---|",
    ]
    for step in result["scaling"]["steps"]:
        lines.append(f"| {step['queued']:,} | {_ms(step['claim_ms']['p50'])}/"
                     f"{_ms(step['claim_ms']['p99'])} | {_ms(step['state_ms']['p50'])}/"
                     f"{_ms(step['state_ms']['p99'])} |")
    history = result["scaling"]["with_history"]
    idle = result["idle_long_poll"]
    lines += [
        "",
        f"With {history['queued']:,} queued and {history['history']:,} in history: /state "
        f"p50/p99 {_ms(history['state_ms']['p50'])}/{_ms(history['state_ms']['p99'])} ms, "
        f"dashboard page p50/p99 {_ms(history['dashboard_ms']['p50'])}/"
        f"{_ms(history['dashboard_ms']['p99'])} ms. {idle['executors']} idle executors "
        f"long-polling: {idle['cpu_percent_of_one_core']:.2f}% of one core, "
        f"{idle['requests_per_minute']} requests/min.",
        "",
        "| target | bound | result |",
        "|---|---|---|",
    ]
    for text, bound, ok in targets(result):
        lines.append(f"| {text} | {bound} | {'pass' if ok else '**FAIL**'} |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = [s["name"].replace(", ", "\n", 1) for s in result["scenarios"]]
    for endpoint in ("claim", "progress", "complete"):
        left.plot(names, [s["endpoints"][endpoint]["p99"] for s in result["scenarios"]],
                  marker="o", label=f"{endpoint} p99")
    left.plot(names, [s["websocket_ms"].get("p99") for s in result["scenarios"]], marker="s",
              label="WebSocket p99")
    left.set_ylabel("ms")
    left.set_title("latency against load")
    left.legend(fontsize=8)
    left.tick_params(axis="x", labelsize=7)
    steps = result["scaling"]["steps"]
    right.plot([s["queued"] for s in steps], [s["claim_ms"]["p99"] for s in steps], marker="o",
               label="claim p99")
    right.plot([s["queued"] for s in steps], [s["state_ms"]["p99"] for s in steps], marker="o",
               label="/state p99")
    right.set_xscale("log")
    right.set_xlabel("queued intents")
    right.set_ylabel("ms")
    right.set_title("latency against queue size")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(result: dict[str, Any], out: Path, readme: Path | None) -> None:
    (out / "latest.json").write_text(json.dumps(result, indent=2))
    table = markdown(result)
    (out / "latest.md").write_text(table)
    plot(result, out / "latency.png")
    print(table)
    if readme is not None and readme.exists():
        text = readme.read_text()
        block = f"<!-- bench-table -->\n{table}<!-- /bench-table -->"
        if "<!-- bench-table -->" in text:
            text = re.sub(r"<!-- bench-table -->.*<!-- /bench-table -->", lambda _: block,
                          text, flags=re.S)
            readme.write_text(text)
