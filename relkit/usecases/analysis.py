"""A rollout's analysis: health checks on the hosts switched so far, and a Prometheus query.

The checks run in one health play limited to those hosts (``playbooks/health.yml``, the same
module as ``relkit health``); the query goes to Prometheus's HTTP API (``/api/v1/query``) from
the controller. What they found is judged by :func:`relkit.rollout.prometheus_verdict` and
:func:`relkit.health.host_health`; the rollout records it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from relkit.config import Analysis, PrometheusAnalysis
from relkit.health import host_health
from relkit.rollout import Bound, prometheus_verdict
from relkit.usecases.recording import OutcomeSink
from relkit.usecases.runs import Run

MAX_ANSWER = 4 * 1024 * 1024
"""Bytes read of a Prometheus answer at most (an instant query's answer is small)."""


@dataclass
class Finding:
    """What one analysis found: passed or not, why, and the evidence (recorded as such)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    prometheus: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``rollout.analysis`` entry's data."""
        return asdict(self)


def analyse(run: Run, spec: Analysis, hosts: list[str], progress: OutcomeSink) -> Finding:
    """Run ``spec`` against ``hosts`` (the hosts switched so far): every critical check must pass
    on every host and every sample of the query stay within its bounds."""
    finding = Finding(passed=True)
    if spec.checks and hosts:
        checks = [{**c.model_dump(exclude_none=True), "source": "analysis"} for c in spec.checks]
        result = run.play(
            "health.yml",
            {"relkit_health": {"checks": checks, "timeout": spec.timeout}},
            progress,
            limit=",".join(hosts),
        )
        health = host_health(result, hosts)
        finding.checks = {
            h.host: {"status": h.status, "checks": h.checks, "problem": h.problem} for h in health.values()
        }
        for h in health.values():
            failed = [
                f"{c['name']}: {c.get('detail', '')}" for c in h.checks if c.get("status") == "critical"
            ]
            if h.status == "critical" or failed:
                finding.passed = False
                finding.reasons.append(f"{h.host}: {'; '.join(failed) or h.problem or 'critical'}")
    if spec.prometheus is not None:
        passed, why, samples = query_prometheus(spec.prometheus)
        finding.prometheus = {
            "query": spec.prometheus.query,
            "passed": passed,
            "detail": why,
            "samples": samples,
        }
        if not passed:
            finding.passed = False
            finding.reasons.append(f"prometheus {spec.prometheus.query!r}: {why}")
    return finding


def query_prometheus(spec: PrometheusAnalysis) -> tuple[bool, str, list[dict[str, Any]]]:
    """Ask Prometheus ``spec.query`` (an instant query) and judge its samples against the bounds.
    An unreachable server or a malformed answer fails: no answer is not a pass."""
    url = f"{spec.url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": spec.query})
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=spec.timeout) as response:
            answer = json.loads(response.read(MAX_ANSWER))
    except urllib.error.HTTPError as exc:  # Prometheus answers a bad query with 400 and a JSON error
        try:
            answer = json.loads(exc.read(MAX_ANSWER))
        except ValueError:
            return False, f"Prometheus answered HTTP {exc.code}", []
    except (OSError, ValueError) as exc:
        return False, f"no answer from {spec.url}: {exc}", []
    return prometheus_verdict(answer, Bound(max=spec.max, min=spec.min))
