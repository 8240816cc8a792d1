"""The benchmark's report: JSON (everything), Markdown (the table and the targets, also put
into the README between its bench markers) and a PNG plot of latency against load."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _by_key(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in result["scenarios"]}


def _worst_p99(s: dict[str, Any]) -> float:
    return max(s["endpoints"][k]["p99"] or 0 for k in ("claim", "progress", "complete"))


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    by = _by_key(result)
    pg = result["references"]["pgbench"]["claims_per_second"]
    proc = result["references"]["procrastinate"]["jobs_per_second"]
    paced50, sat50 = by["paced-50"], by["sat-50"]
    worst50 = _worst_p99(paced50)
    steps = result["scaling"]["steps"]
    claim_1k, claim_top = steps[0]["claim_ms"]["p99"], steps[-1]["claim_ms"]["p99"]
    state_top = result["scaling"]["with_history"]["state_ms"]["p99"]
    ws_paced = by["paced-200-2p"]["websocket_ms"].get("p99")
    ws_sat = by["sat-200-2p"]["websocket_ms"].get("p99")
    rss = max(r for s in result["scenarios"] if s["executors"] == 200 for r in s["peak_rss_mb"])
    idle = result["idle_long_poll"]["cpu_percent_of_one_core"]
    claims = max(s["claims_per_second"] for s in result["scenarios"] if s["claims_only"])
    cycles = max(s["cycles_per_second"] for s in result["scenarios"] if not s["claims_only"])
    return [
        (
            f"p99 of every executor endpoint ≤ 20 ms with 50 executors, each making one call a "
            f"second ({paced50['offered_per_second']} calls/s): {worst50:.1f} ms (with no pause "
            f"between calls, the server saturated: {_worst_p99(sat50):.1f} ms)",
            "≤ 20 ms",
            worst50 <= 20,
        ),
        (
            f"claims ≥ 25% of the pgbench claim limit: {claims:.0f}/s of {pg:.0f}/s = "
            f"{claims / pg:.1%}",
            "≥ 25%",
            claims >= 0.25 * pg,
        ),
        (
            f"claim→complete cycles/s ≥ Procrastinate's no-op jobs/s: {cycles:.0f} vs {proc:.0f}",
            "≥ 1×",
            cycles >= proc,
        ),
        (
            f"WebSocket commit→client p99 with 1,000 connections, "
            f"{by['paced-200-2p']['offered_per_second']} calls/s: {_ms(ws_paced)} ms "
            f"(server saturated: {_ms(ws_sat)} ms)",
            "≤ 100 ms",
            ws_paced is not None and ws_paced <= 100,
        ),
        (
            f"claim p99 at {steps[-1]['queued']:,} queued vs 1k: {claim_top:.1f} vs "
            f"{claim_1k:.1f} ms ({claim_top / claim_1k:.2f}×)",
            "≤ 1.5×",
            claim_top <= 1.5 * claim_1k,
        ),
        (
            f"/state p99 with {result['scaling']['with_history']['history']:,} in history: "
            f"{state_top:.1f} ms",
            "≤ 50 ms",
            state_top <= 50,
        ),
        (f"peak RSS per process under the 200-executor load: {rss:.0f} MB", "≤ 200 MB", rss <= 200),
        (f"200 idle long-polling executors: {idle:.2f}% of one core", "< 5%", idle < 5),
    ]


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| run | offered calls/s | cycles/s | claims/s | claim p50/p95/p99 ms | progress p99 | "
        "complete p99 | WS p50/p99 ms | CPU % | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["scenarios"]:
        e, ws = s["endpoints"], s["websocket_ms"]
        offered = s["offered_per_second"] or "saturating"
        lines.append(
            f"| {s['name']} | {offered} | {s['cycles_per_second']:.0f} | "
            f"{s['claims_per_second']:.0f} | "
            f"{_ms(e['claim']['p50'])}/{_ms(e['claim']['p95'])}/{_ms(e['claim']['p99'])} | "
            f"{_ms(e['progress']['p99'])} | {_ms(e['complete']['p99'])} | "
            f"{_ms(ws.get('p50'))}/{_ms(ws.get('p99'))} | "
            f"{'+'.join(f'{c:.0f}' for c in s['cpu_percent'])} | "
            f"{'+'.join(f'{r:.0f}' for r in s['peak_rss_mb'])} |"
        )
    refs = result["references"]
    lines += [
        "",
        "Saturating: every executor calls again as soon as it has its answer (the server's "
        "throughput; latency is then mostly queueing). Offered N calls/s: each executor makes "
        "one call per executors/N seconds (latency below saturation; these runs last "
        f"{result.get('paced_seconds', 15)} s, for enough samples for a p99). WebSocket latency: "
        "commit to arrival, on every tenth viewer (the others read and drop their frames; "
        "the server sends every viewer every frame).",
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
        lines.append(
            f"| {step['queued']:,} | {_ms(step['claim_ms']['p50'])}/"
            f"{_ms(step['claim_ms']['p99'])} | {_ms(step['state_ms']['p50'])}/"
            f"{_ms(step['state_ms']['p99'])} |"
        )
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
    if "issue19" in result:
        from bench.compare import markdown as per_cpu

        lines += [
            "",
            "Per app CPU, in the same run (issue 19): the floor (bare Django), the app "
            "under each server, the executor cycle straight to PostgreSQL, the cursor "
            "wrapper and the app without its process tuning.",
            "",
            per_cpu(result["issue19"]),
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    # The scenarios' short keys (the table has their names).
    names = [s.get("key", s["name"]) for s in result["scenarios"]]
    for endpoint in ("claim", "progress", "complete"):
        left.plot(
            names,
            [s["endpoints"][endpoint]["p99"] for s in result["scenarios"]],
            marker="o",
            label=f"{endpoint} p99",
        )
    left.plot(
        names,
        [s["websocket_ms"].get("p99") for s in result["scenarios"]],
        marker="s",
        label="WebSocket p99",
    )
    left.set_ylabel("ms")
    left.set_title("latency against load")
    left.legend(fontsize=8)
    left.tick_params(axis="x", labelsize=7, labelrotation=30)
    steps = result["scaling"]["steps"]
    right.plot(
        [s["queued"] for s in steps],
        [s["claim_ms"]["p99"] for s in steps],
        marker="o",
        label="claim p99",
    )
    right.plot(
        [s["queued"] for s in steps],
        [s["state_ms"]["p99"] for s in steps],
        marker="o",
        label="/state p99",
    )
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
            text = re.sub(
                r"<!-- bench-table -->.*<!-- /bench-table -->", lambda _: block, text, flags=re.S
            )
            readme.write_text(text)
