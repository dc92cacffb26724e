"""The pure rollout core: batches cut from hosts, a rollout's state read back from its ledger
entries, a Prometheus answer judged, and the ``rollout:`` settings relkit.yml accepts."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from relkit.chain import Entry
from relkit.config import Rollout
from relkit.rollout import Bound, open_rollout, plan, prometheus_verdict, rollouts

HOSTS = [f"web{i}" for i in range(1, 7)]


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        # one canary, then half of six (3 in all), then the rest
        ([1, "50%", "100%"], [["web1"], ["web2", "web3"], ["web4", "web5", "web6"]]),
        # 25% of six is 1.5: rounded up to 2
        (["25%", "100%"], [["web1", "web2"], ["web3", "web4", "web5", "web6"]]),
        # a batch that adds no host is skipped: 1 host, then 10% (1 host again), then all
        ([1, "10%", "100%"], [["web1"], ["web2", "web3", "web4", "web5", "web6"]]),
        # a count above the fleet is the fleet
        ([10, "100%"], [HOSTS]),
        (["100%"], [HOSTS]),
    ],
)
def test_plan_cuts_hosts_into_growing_batches(batches: list[Any], expected: list[list[str]]) -> None:
    assert plan(HOSTS, batches) == expected
    assert [h for batch in plan(HOSTS, batches) for h in batch] == HOSTS


def test_plan_of_one_host_is_one_batch() -> None:
    assert plan(["only"], [1, "25%", "100%"]) == [["only"]]


def entry(seq: int, kind: str, run_id: str = "r1", env: str = "prod", **data: Any) -> Entry:
    return Entry(
        seq=seq,
        ts=f"2026-12-06T10:00:{seq:02d}+00:00",
        kind=kind,
        run_id=run_id,
        env=env,
        host="",
        data=data,
        prev_hash="",
        hash="",
    )


def started(seq: int = 1) -> Entry:
    return entry(
        seq, "rollout.started", rollout_id="r1", version="2.0.0", sha256="ab" * 32,
        batches=[["web1"], ["web2", "web3"], ["web4"]], pause="approval", on_failure="rollback", by="ops",
    )  # fmt: skip


def test_state_follows_batches_pauses_and_a_signed_continue() -> None:
    log = [
        started(),
        entry(2, "rollout.batch", rollout_id="r1", index=0, hosts=["web1"], switched=["web1"], ok=True),
        entry(3, "rollout.analysis", rollout_id="r1", after_batch=0, passed=True),
        entry(4, "rollout.paused", rollout_id="r1", after_batch=0, waiting_for="approval"),
    ]
    state = rollouts(log)["prod"]
    assert (state.done, state.next_batch, state.waiting_for) == (1, 1, "approval")
    assert state.status(running=False) == "waiting for approval"
    assert state.switched == ["web1"] and state.hosts_to_go() == ["web2", "web3", "web4"]
    assert state.analyses == [{"rollout_id": "r1", "after_batch": 0, "passed": True}]

    log += [
        entry(5, "rollout.continued", run_id="r2", rollout_id="r1", after_batch=0, by="ops"),
        entry(6, "rollout.batch", run_id="r2", rollout_id="r1", index=1, hosts=["web2", "web3"],
              switched=["web2"], ok=False),
    ]  # fmt: skip
    state = rollouts(log)["prod"]
    assert state.continued == {0} and state.waiting_for == ""
    assert state.done == 1 and state.switched == ["web1", "web2"], "a failed batch's switched host counts"
    assert state.runs == ["r1", "r2"]
    assert state.status(running=False) == "interrupted"
    assert state.status(running=True) == "running"
    # a rollback unwinding it: the hosts it may have moved, the batch in play included
    assert state.hosts_in_play() == ["web1", "web2", "web3"]


def test_a_finished_rollout_is_no_longer_open_and_a_new_one_replaces_it() -> None:
    log = [
        started(),
        entry(2, "rollout.batch", rollout_id="r1", index=0, hosts=["web1"], switched=["web1"], ok=True),
        entry(3, "rollout.finished", rollout_id="r1", status="rolled_back", rolled_back={"web1": "1.0.0"}),
    ]
    assert open_rollout(log, "prod") is None
    state = rollouts(log)["prod"]
    assert state.finished == "rolled_back" and state.switched == [] and state.status(False) == "rolled_back"
    # entries of another rollout id, or another environment, do not move this one
    log.append(
        entry(4, "rollout.batch", rollout_id="other", index=1, hosts=["web2"], switched=["web2"], ok=True)
    )
    log.append(entry(5, "rollout.started", env="staging", rollout_id="r9", batches=[["s1"]], version="1"))
    assert rollouts(log)["prod"].done == 1 and sorted(rollouts(log)) == ["prod", "staging"]


def test_a_kept_failure_waits_for_a_decision() -> None:
    log = [started(), entry(2, "rollout.stopped", rollout_id="r1", batch=0, reason="analysis failed")]
    state = rollouts(log)["prod"]
    assert state.status(False) == "waiting for decision" and state.reason == "analysis failed"


def vector(*values: Any) -> dict[str, Any]:
    result = [{"metric": {"instance": f"h{i}"}, "value": [1733479200.0, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.mark.parametrize(
    ("answer", "bound", "passed", "why"),
    [
        (vector("0", "0.4"), Bound(max=0.5), True, "2 sample(s) within bounds"),
        (vector("0", "0.6"), Bound(max=0.5), False, "instance=h1 = 0.6, outside [-inf, 0.5]"),
        (vector("3"), Bound(min=5), False, "instance=h0 = 3, outside [5, +inf]"),
        (vector("NaN"), Bound(max=1), False, "outside [-inf, 1]"),
        (vector(), Bound(max=1), False, "no sample (no data is not a pass)"),
        (
            {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "7"]}},
            Bound(max=10, min=5),
            True,
            "1 sample(s) within bounds",
        ),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            Bound(max=1),
            False,
            "a matrix result",
        ),
        ({"status": "error", "error": "parse error at char 5"}, Bound(max=1), False, "parse error at char 5"),
        ("<html>", Bound(max=1), False, "not a Prometheus answer"),
        (vector("many"), Bound(max=1), False, "not a number"),
    ],
)
def test_prometheus_verdict(answer: Any, bound: Bound, passed: bool, why: str) -> None:
    got, text, samples = prometheus_verdict(answer, bound)
    assert got is passed and why in text, text
    if passed:
        assert all(not math.isnan(s["value"]) for s in samples)


def test_rollout_settings_are_checked() -> None:
    spec = Rollout(batches=[1, "25%", "100%"], pause="approval", on_failure="keep")
    assert spec.pause == "approval" and spec.analysis is None
    problems = {
        "the last batch must be 100%": {"batches": [1, "25%"]},
        "more hosts than the one before": {"batches": ["50%", "25%", "100%"]},
        "string_pattern_mismatch": {"batches": [1, "150%", "100%"]},
        "give checks, prometheus or both": {"batches": ["100%"], "analysis": {}},
        "give max (or min": {
            "batches": ["100%"],
            "analysis": {"prometheus": {"url": "http://p:9090", "query": "up"}},
        },
        "less than or equal to 86400": {"batches": ["100%"], "pause": 90_000},
    }
    for needle, settings in problems.items():
        with pytest.raises(ValidationError) as refused:
            Rollout.model_validate(settings)
        text = str(refused.value) + " ".join(e["type"] for e in refused.value.errors())
        assert needle in text, (settings, text)
