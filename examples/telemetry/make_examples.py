"""Write the small example telemetry files (seeded: the same bytes every run).

- ``otel_spans.json``: OTLP JSON, 200 traces of check (with a store.read inside) -> window -> use
  (with a store.write inside). Window ~ lognormal(median 40 ms, sigma 0.6); store reads ~ gamma
  (shape 3, mean 2 ms); store writes ~ lognormal(median 5 ms, sigma 0.4).
- ``latency.csv``: 2,000 request latencies (column ``latency_ms``): 95% lognormal(median 8 ms,
  sigma 0.3) and 5% lognormal(median 120 ms, sigma 0.4), a cache-hit / miss mixture.
- ``checkout_latency.prom``: a Prometheus histogram of 5,000 lognormal(median 50 ms, sigma 0.5)
  latencies, in seconds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _span(trace: str, span: str, parent: str, name: str, start: float, end: float) -> dict[str, object]:
    return {"traceId": trace, "spanId": span, "parentSpanId": parent, "name": name,
            "startTimeUnixNano": str(int(start * 1e9)), "endTimeUnixNano": str(int(end * 1e9))}


def main() -> None:
    rng = np.random.default_rng(20261129)
    spans = []
    t = 1_764_000_000.0
    for i in range(200):
        trace = f"{i + 1:032x}"
        t += rng.exponential(0.5)
        read = rng.gamma(3.0, 2e-3 / 3.0)
        check_end = t + read + 0.0003
        window = rng.lognormal(np.log(0.040), 0.6)
        use_start = check_end + window
        write = rng.lognormal(np.log(0.005), 0.4)
        use_end = use_start + write + 0.0002
        root = f"{4 * i + 1:016x}"
        spans += [
            _span(trace, root, "", "checkout", t, use_end),
            _span(trace, f"{4 * i + 2:016x}", root, "check", t, check_end),
            _span(trace, f"{4 * i + 3:016x}", f"{4 * i + 2:016x}", "store.read", t + 0.0001, t + 0.0001 + read),
            _span(trace, f"{4 * i + 4:016x}", root, "use", use_start, use_end),
            _span(trace, f"{4 * i + 5:016x}", f"{4 * i + 4:016x}", "store.write", use_start + 0.0001,
                  use_start + 0.0001 + write),
        ]
    otlp = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                            "value": {"stringValue": "checkout"}}]},
                               "scopeSpans": [{"scope": {"name": "example"}, "spans": spans}]}]}
    (HERE / "otel_spans.json").write_text(json.dumps(otlp, separators=(",", ":")) + "\n", encoding="utf-8")

    hit = rng.random(2000) < 0.95
    latency = np.where(hit, rng.lognormal(np.log(8.0), 0.3, 2000), rng.lognormal(np.log(120.0), 0.4, 2000))
    with (HERE / "latency.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["latency_ms"])
        writer.writerows([[f"{v:.3f}"] for v in latency])

    samples = rng.lognormal(np.log(0.050), 0.5, 5000)
    bounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    lines = ["# HELP checkout_latency_seconds Checkout latency.", "# TYPE checkout_latency_seconds histogram"]
    for bound in bounds:
        lines.append(f'checkout_latency_seconds_bucket{{le="{bound}"}} {int((samples <= bound).sum())}')
    lines.append(f'checkout_latency_seconds_bucket{{le="+Inf"}} {samples.size}')
    lines.append(f"checkout_latency_seconds_sum {samples.sum():.4f}")
    lines.append(f"checkout_latency_seconds_count {samples.size}")
    (HERE / "checkout_latency.prom").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
