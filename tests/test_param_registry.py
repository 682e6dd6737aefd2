"""Parameter-set registry, promotion pointer, quoter loader and the params CLI, on a real temporary lake."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibration.regimes import RegimeParams
from data_lake.param_registry import (
    NoPromotedSet,
    Pointer,
    UnreadableRegistryFile,
    decisions,
    list_sets,
    load_promoted,
    load_set,
    pointer_path,
    promote,
    read_pointer,
    register_candidate,
    reject,
    rollback,
    set_path,
)
from data_lake.param_schema import HMM_KEYS, InvalidParameterSet, ParamSet, content_id
from quoting.cli.params import params_promote, params_rollback, params_show
from quoting.core.glft import quote
from quoting.runtime.params import PromotionWatcher, StaleParameterSet, load_for_quoting

COIN = "BTC"
HOUR_MS = 3_600_000
DAY_S = 86_400.0
WINDOW_END_MS = time.time_ns() // 1_000_000 - HOUR_MS
"""Training windows end an hour before the tests start, well within a day's max age."""


def hmm() -> dict[str, Any]:
    return {
        "state_names": ["calm", "volatile", "cascade"],
        "feature_names": ["log_return", "log_rv"],
        "feature_mean": [0.0, -14.0],
        "feature_scale": [2e-4, 1.2],
        "startprob": [0.7, 0.25, 0.05],
        "transmat": [[0.95, 0.04, 0.01], [0.06, 0.9, 0.04], [0.05, 0.15, 0.8]],
        "means": [[0.0, -0.6], [0.0, 0.5], [0.0, 2.2]],
        "variances": [[0.4, 0.3], [1.5, 0.3], [6.0, 0.5]],
    }


def parameters(gamma_calm: float = 0.002) -> dict[str, Any]:
    return {
        "gamma_per_quote_by_regime": {"calm": gamma_calm, "volatile": 0.004, "cascade": 0.02},
        "min_spread_bps_by_regime": {"calm": 2.0, "volatile": 4.0, "cascade": 10.0},
        "kappa": {"value": 0.05, "se": 0.004, "unit": "1/px"},
        "arrival_rate": {"value": 0.8, "se": 0.05, "unit": "1/s per side"},
        "sigma": {"value": 6.0, "se": 0.3, "unit": "px/sqrt(s)"},
        "hmm": hmm(),
        "maker_fee_bps": 1.5,
        "order_size_base": 0.001,
        "position_limit_base": 0.01,
        "daily_loss_limit_quote": 50.0,
        "sz_decimals": 5,
        "is_spot": False,
        "cascade_threshold": 0.5,
        "kappa_se_mult": 1.0,
        "adverse_selection_bps_by_regime": {
            "calm": {"value": 0.9, "se": 0.02, "n": 180_000},
            "volatile": {"value": 3.1, "se": 0.09, "n": 34_000},
            "cascade": {"value": 8.0, "se": 2.5, "n": 40},
        },
    }


def make_set(i: int = 0, params: dict[str, Any] | None = None, window_end_ms: int | None = None) -> ParamSet:
    end = WINDOW_END_MS if window_end_ms is None else window_end_ms
    return ParamSet.create(
        coin=COIN,
        window_start_ms=end - 24 * HOUR_MS,
        window_end_ms=end,
        code_version="0.1.0+test",
        parameters=params or parameters(gamma_calm=0.002 * (1 + i)),
        evidence={"walk_forward": {"oos_fills": 300 + i, "sharpe": float("nan")}, "data_quality": {"ok": True}},
        created_at_ms=end + HOUR_MS,
    )


def stored(lake_root: Path, i: int = 0, **kw: Any) -> ParamSet:
    return register_candidate(lake_root, make_set(i, **kw))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def file_sha(root: Path, ps: ParamSet) -> str:
    return hashlib.sha256((root / set_path(COIN, ps.param_set_id)).read_bytes()).hexdigest()


def test_round_trip(root: Path) -> None:
    ps = stored(root)
    path = root / set_path(COIN, ps.param_set_id)
    doc = json.loads(path.read_text())
    assert sorted(doc) == sorted(
        [
            "schema_version",
            "param_set_id",
            "coin",
            "created_at_ms",
            "training_window",
            "code_version",
            "parameters",
            "evidence",
        ]
    )
    assert doc["evidence"]["walk_forward"]["sharpe"] is None  # NaN is stored as null
    assert load_set(root, COIN, ps.param_set_id).to_dict() == ps.to_dict()
    assert make_set().param_set_id == ps.param_set_id  # content hash: same content, same id
    assert register_candidate(root, make_set()).param_set_id == ps.param_set_id
    assert decisions(root, COIN)["status"].to_list() == ["candidate"]  # registering twice records once

    pointer = promote(root, COIN, ps.param_set_id, "gate: all checks passed")
    live = load_promoted(root, COIN)
    assert live.pointer == pointer == read_pointer(root, COIN)
    assert (pointer.version, pointer.sha256) == (1, file_sha(root, ps))
    assert live.param_set.to_dict() == ps.to_dict()
    row = decisions(root, COIN).row(-1, named=True)
    assert (row["status"], row["reason"], row["pointer_version"]) == ("promoted", "gate: all checks passed", 1)
    assert json.loads(row["parameters"]) == ps.parameters.to_dict()
    assert promote(root, COIN, ps.param_set_id, "again") == pointer  # promoting the live set changes nothing


def test_a_set_written_before_adverse_selection_existed_loads_as_unknown(root: Path) -> None:
    """Backward compatibility: no key means unknown (None), and the set keeps the id its content hashed to."""
    legacy = {k: v for k, v in parameters().items() if k != "adverse_selection_bps_by_regime"}
    doc = make_set(params=legacy).to_dict()
    assert "adverse_selection_bps_by_regime" not in doc["parameters"]
    doc["param_set_id"] = content_id(doc)
    (root / set_path(COIN, doc["param_set_id"])).parent.mkdir(parents=True)
    (root / set_path(COIN, doc["param_set_id"])).write_text(json.dumps(doc))
    promote(root, COIN, doc["param_set_id"], "set from an older release")
    assert load_promoted(root, COIN).param_set.parameters.adverse_selection_bps_by_regime is None
    assert load_for_quoting(root, COIN, max_age_s=DAY_S).adverse_bps_by_regime is None
    assert "adverse selection at 5 s (bps): unknown" in params_show(root, COIN)


LEAD_LAG = {"leader": "ETH", "lag_ms": 400, "beta": 0.8, "beta_se": 0.05}


def test_a_set_with_a_leader_quotes_around_the_fair_value_the_leader_moves(root: Path) -> None:
    ps = stored(root, params=parameters() | {"lead_lag": LEAD_LAG})
    assert load_set(root, COIN, ps.param_set_id).to_dict()["parameters"]["lead_lag"] == LEAD_LAG
    promote(root, COIN, ps.param_set_id, "gate")
    qp = load_for_quoting(root, COIN, max_age_s=DAY_S)
    shift = qp.policy.lead_lag
    assert (shift.leader, shift.lag_ms, shift.beta) == ("ETH", 400, 0.8)
    belief = qp.regime_filter().update(np.array([0.0, -14.6]))
    still, moved = (quote(100_000.0, 0.0, belief, qp.model, qp.policy, leader_log_return=r) for r in (0.0, 1e-3))
    assert moved.fair_value == pytest.approx(100_000.0 * np.exp(0.8e-3)) and still.fair_value == 100_000.0
    assert moved.bid_px > still.bid_px and moved.ask_px > still.ask_px


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("leader", COIN, "lead_lag.leader: 'BTC' cannot lead itself"),
        ("leader", "", "lead_lag.leader: expected a non-empty string"),
        ("lag_ms", 0, "lead_lag.lag_ms: must be > 0"),
        ("lag_ms", 2.5, "lead_lag.lag_ms: expected an integer"),
        ("beta", 11.0, "lead_lag.beta: |11.0| is above 10"),
        ("beta_se", -0.1, "lead_lag.beta_se: must be >= 0"),
        ("beta_se", KeyError, "lead_lag.beta_se: missing"),
    ],
)
def test_an_invalid_lead_lag_is_refused_with_a_clear_error(key: str, value: Any, message: str) -> None:
    lead_lag = {k: v for k, v in LEAD_LAG.items() if k != key} | ({} if value is KeyError else {key: value})
    with pytest.raises(InvalidParameterSet, match=re.escape(message)):
        make_set(params=parameters() | {"lead_lag": lead_lag})


def test_hmm_keys_are_regime_params_keys() -> None:
    assert tuple(RegimeParams.from_dict(hmm()).to_dict()) == HMM_KEYS


def _mutate(path: str, value: Any) -> dict[str, Any]:
    params = parameters()
    *parents, leaf = path.split(".")
    target = params
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return params


INVALID = [
    ("gamma_per_quote_by_regime.volatile", -0.1, "gamma_per_quote_by_regime.volatile: must be > 0"),
    ("kappa.value", 0.0, "kappa.value: must be > 0"),
    ("kappa.value", -2.0, "kappa.value: must be > 0"),
    ("arrival_rate.value", 0.0, "arrival_rate.value: must be > 0"),
    ("kappa.unit", "1/bps", "kappa.unit: expected '1/px'"),
    ("position_limit_base", KeyError, "parameters.position_limit_base: missing"),
    ("daily_loss_limit_quote", KeyError, "parameters.daily_loss_limit_quote: missing"),
    ("order_size_base", "0.001", "order_size_base: expected a number, got str"),
    ("sz_decimals", 2.5, "sz_decimals: expected an integer, got float"),
    ("is_spot", 0, "is_spot: expected true or false"),
    ("sigma.se", float("nan"), "sigma.se: must be finite"),
    ("position_limit_base", 0.0001, "position_limit_base: 0.0001 is below the order size"),
    ("gamma_per_quote_by_regime.cascade", KeyError, "expected one value per HMM state"),
    ("hmm.transmat", [[0.5, 0.4, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "hmm.transmat: must be probabilities"),
    ("hmm.variances", [[0.4, 0.3], [1.5, 0.3]], "hmm.variances: expected shape (3, 2)"),
    (
        "adverse_selection_bps_by_regime.volatile.value",
        float("nan"),
        "adverse_selection_bps_by_regime.volatile.value: must be finite",
    ),
    (
        "adverse_selection_bps_by_regime.calm.value",
        500.0,
        "adverse_selection_bps_by_regime.calm.value: |500.0| bps is not below 500",
    ),
    (
        "adverse_selection_bps_by_regime.calm.value",
        -1e4,
        "adverse_selection_bps_by_regime.calm.value: |-10000.0| bps is not below 500",
    ),
    ("adverse_selection_bps_by_regime.calm.se", -0.1, "adverse_selection_bps_by_regime.calm.se: must be >= 0"),
    ("adverse_selection_bps_by_regime.calm.n", -1, "adverse_selection_bps_by_regime.calm.n: must be >= 0"),
    ("adverse_selection_bps_by_regime.calm.n", 2.5, "adverse_selection_bps_by_regime.calm.n: expected an integer"),
    ("adverse_selection_bps_by_regime.calm.se", KeyError, "adverse_selection_bps_by_regime.calm.se: missing"),
    (
        "adverse_selection_bps_by_regime.cascade",
        KeyError,
        "adverse_selection_bps_by_regime: expected one value per HMM state",
    ),
    ("adverse_selection_bps_by_regime", None, "adverse_selection_bps_by_regime: expected one value per HMM state"),
]


@pytest.mark.parametrize(("path", "value", "message"), INVALID, ids=[f"{p}={v!r}" for p, v, _ in INVALID])
def test_invalid_set_rejected_with_clear_error(root: Path, path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidParameterSet, match=re.escape(message)):
        make_set(params=_mutate(path, value))

    # The same document written straight to the lake (pointer naming it, hash consistent where JSON can
    # express the value) fails the reader and cannot be promoted.
    doc = make_set().to_dict()
    doc["parameters"] = _mutate(path, value)
    nan = isinstance(value, float) and np.isnan(value)
    if not nan:
        doc["param_set_id"] = content_id(doc)
    data = json.dumps(doc).encode()
    (root / set_path(COIN, doc["param_set_id"])).parent.mkdir(parents=True)
    (root / set_path(COIN, doc["param_set_id"])).write_bytes(data)
    (root / pointer_path(COIN)).parent.mkdir(parents=True)
    sha = hashlib.sha256(data).hexdigest()
    (root / pointer_path(COIN)).write_bytes(Pointer(doc["param_set_id"], 1, 0, sha).to_json())
    disk_message = "non-standard JSON constant NaN" if nan else message
    with pytest.raises(InvalidParameterSet, match=re.escape(disk_message)):
        load_promoted(root, COIN)
    with pytest.raises(InvalidParameterSet, match=re.escape(disk_message)):
        promote(root, COIN, doc["param_set_id"], "should fail")


def test_tampered_set_is_not_promoted_and_quoter_keeps_last_good(root: Path) -> None:
    a, b, c = (stored(root, i) for i in range(3))
    promote(root, COIN, a.param_set_id, "first")
    watcher = PromotionWatcher(root, COIN, max_age_s=DAY_S)
    assert watcher.poll() and watcher.current.param_set_id == a.param_set_id

    # A set edited after it was stored fails its content hash: it cannot be promoted.
    path_b = root / set_path(COIN, b.param_set_id)
    path_b.write_text(path_b.read_text().replace('"calm": 0.004', '"calm": 0.0001'))
    with pytest.raises(InvalidParameterSet, match="does not match the content hash"):
        promote(root, COIN, b.param_set_id, "tampered")
    path_b.write_bytes(path_b.read_bytes()[:200])  # a partial file
    with pytest.raises(InvalidParameterSet, match="not valid JSON"):
        promote(root, COIN, b.param_set_id, "truncated")
    assert read_pointer(root, COIN).param_set_id == a.param_set_id

    # A promoted set edited afterwards fails the pointer's sha256: the loader refuses, the watcher keeps A.
    promote(root, COIN, c.param_set_id, "valid when promoted")
    path_c = root / set_path(COIN, c.param_set_id)
    path_c.write_text(path_c.read_text().replace('"value": 0.05', '"value": 0.5'))
    with pytest.raises(InvalidParameterSet, match="pointer expects sha256"):
        load_promoted(root, COIN)
    assert not watcher.poll()
    assert watcher.current.param_set_id == a.param_set_id
    assert isinstance(watcher.last_error, InvalidParameterSet)
    assert "INVALID" in params_show(root, COIN)


def _reader(root: str, n_reads: int, ready: Any, go: Any, out: str) -> None:
    """Load the promoted set ``n_reads`` times; record what each read saw (or the error)."""
    ready.set()
    go.wait()
    seen, errors = [], []
    for _ in range(n_reads):
        try:
            live = load_promoted(root, COIN)
            data = json.dumps(live.param_set.to_dict()).encode()
            seen.append(
                [
                    live.pointer.param_set_id,
                    live.pointer.version,
                    live.pointer.sha256,
                    live.param_set.param_set_id,
                    hashlib.sha256(data).hexdigest(),
                ]
            )
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            errors.append(repr(exc))
    Path(out).write_text(json.dumps({"seen": seen, "errors": errors}))


@pytest.mark.slow
def test_concurrent_promotions_never_give_a_torn_or_invalid_read(root: Path, tmp_path: Path) -> None:
    sets, promotions, reads = [stored(root, i) for i in range(20)], 300, 3_000
    file_shas = {ps.param_set_id: file_sha(root, ps) for ps in sets}
    content_shas = {ps.param_set_id: hashlib.sha256(json.dumps(ps.to_dict()).encode()).hexdigest() for ps in sets}
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    out = tmp_path / "reads.json"
    reader = ctx.Process(target=_reader, args=(str(root), reads, ready, go, str(out)))
    reader.start()
    promote(root, COIN, sets[0].param_set_id, "promotion 1")
    assert ready.wait(120)
    go.set()
    for k in range(1, promotions):
        promote(root, COIN, sets[k % len(sets)].param_set_id, f"promotion {k + 1}")
    reader.join(300)
    assert reader.exitcode == 0

    result = json.loads(out.read_text())
    assert result["errors"] == []
    seen = result["seen"]
    assert len(seen) == reads
    for pointer_id, _, sha, set_id, content_sha in seen:
        assert pointer_id == set_id
        assert sha == file_shas[set_id]
        assert content_sha == content_shas[set_id]
    versions = [v for _, v, *_ in seen]
    assert versions == sorted(versions)  # one reader never sees the pointer go back
    assert len(set(versions)) > 10  # the reads really overlapped the promotions
    assert read_pointer(root, COIN).version == promotions


def test_rollback_walks_back_through_promotions(root: Path) -> None:
    a, b, c, d = (stored(root, i) for i in range(4))
    for ps in (a, b, c):
        promote(root, COIN, ps.param_set_id, "gate")
    assert rollback(root, COIN).param_set_id == b.param_set_id
    pointer = rollback(root, COIN)
    assert (pointer.param_set_id, pointer.version) == (a.param_set_id, 5)
    assert load_promoted(root, COIN).param_set.param_set_id == a.param_set_id
    with pytest.raises(NoPromotedSet, match="first promotion"):
        rollback(root, COIN)

    promote(root, COIN, d.param_set_id, "gate")
    assert rollback(root, COIN).param_set_id == a.param_set_id
    status = dict(list_sets(root, COIN).select("param_set_id", "status").iter_rows())
    assert status == {
        a.param_set_id: "promoted",
        b.param_set_id: "retired",
        c.param_set_id: "retired",
        d.param_set_id: "retired",
    }
    last = decisions(root, COIN).filter(status="retired").row(-1, named=True)
    assert last["param_set_id"] == d.param_set_id and last["reason"].startswith(f"rolled back to {a.param_set_id}")


def test_candidates_and_rejected_sets_are_never_loaded(root: Path) -> None:
    a, b, c = (stored(root, i) for i in range(3))
    with pytest.raises(NoPromotedSet):
        load_promoted(root, COIN)
    reject(root, COIN, b.param_set_id, "gate: 120 out-of-sample fills")
    with pytest.raises(NoPromotedSet):
        load_promoted(root, COIN)
    promote(root, COIN, a.param_set_id, "gate")
    assert load_promoted(root, COIN).param_set.param_set_id == a.param_set_id
    with pytest.raises(ValueError, match="is live"):
        reject(root, COIN, a.param_set_id, "no")

    sets = list_sets(root, COIN)
    assert dict(sets.select("param_set_id", "status").iter_rows()) == {
        a.param_set_id: "promoted",
        b.param_set_id: "rejected",
        c.param_set_id: "candidate",
    }
    assert sets.filter(live=True)["param_set_id"].to_list() == [a.param_set_id]
    assert list_sets(root, COIN, status="rejected")["reason"].to_list() == ["gate: 120 out-of-sample fills"]

    # Rolling back onto a set rejected since it was live is refused.
    promote(root, COIN, c.param_set_id, "gate")
    reject(root, COIN, a.param_set_id, "found bad later")
    with pytest.raises(ValueError, match="was rejected"):
        rollback(root, COIN)


@pytest.mark.slow  # 2.4 s of real-time polling
def test_watcher_sees_a_new_promotion_within_one_second(root: Path) -> None:
    a, b = stored(root, 0), stored(root, 1)
    promote(root, COIN, a.param_set_id, "first")
    watcher = PromotionWatcher(root, COIN, max_age_s=DAY_S)
    assert watcher.poll() and not watcher.poll()
    time.sleep(2.1)  # past the racy window: an unchanged pointer now costs one stat per poll
    assert not watcher.poll()

    promoter = threading.Thread(target=lambda: (time.sleep(0.3), promote(root, COIN, b.param_set_id, "second")))
    promoter.start()
    deadline = time.monotonic() + 5
    while not watcher.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    seen_ms = time.time_ns() // 1_000_000
    promoter.join()
    assert watcher.current.param_set_id == b.param_set_id
    assert seen_ms - read_pointer(root, COIN).promoted_at_ms < 1000


def test_load_for_quoting_converts_and_refuses_stale_sets(root: Path) -> None:
    ps = stored(root, 0)
    promote(root, COIN, ps.param_set_id, "gate")
    qp = load_for_quoting(root, COIN, max_age_s=DAY_S)
    assert qp.policy.gamma_by_regime == (0.002, 0.004, 0.02)
    assert qp.policy.min_spread_bps_by_regime == (2.0, 4.0, 10.0)
    assert (qp.policy.pull_by_regime, qp.policy.rules.sz_decimals, qp.policy.maker_fee_bps) == (
        (False, False, True),
        5,
        1.5,
    )
    assert (qp.model.kappa, qp.model.kappa_se, qp.model.arrival_rate, qp.model.sigma) == (0.05, 0.004, 0.8, 6.0)
    assert qp.regime.state_names == ("calm", "volatile", "cascade")
    assert qp.adverse_bps_by_regime.tolist() == [0.9, 3.1, 8.0]
    assert qp.expires_at_ms == ps.window_end_ms + 86_400_000
    belief = qp.regime_filter().update(np.array([0.0, -14.6]))
    q = quote(100_000.0, 0.0, belief, qp.model, qp.policy)
    assert q.bid_px is not None and q.ask_px is not None and q.bid_px < 100_000.0 < q.ask_px

    with pytest.raises(StaleParameterSet, match="ended"):
        load_for_quoting(root, COIN, max_age_s=60.0)

    # A stale set promoted over a good one is refused by the watcher, which keeps the good one.
    watcher = PromotionWatcher(root, COIN, max_age_s=DAY_S)
    assert watcher.poll()
    old = stored(root, 1, window_end_ms=ps.window_end_ms - 3 * 86_400_000)
    promote(root, COIN, old.param_set_id, "manual: test")
    assert not watcher.poll()
    assert watcher.current.param_set_id == ps.param_set_id
    assert isinstance(watcher.last_error, StaleParameterSet)


def test_params_cli(root: Path) -> None:
    a, b = stored(root, 0), stored(root, 1)
    assert params_show(root, COIN).startswith(f"{COIN}: no parameter set promoted")
    reject(root, COIN, b.param_set_id, "gate: fill probability not well calibrated")
    with pytest.raises(ValueError, match="needs a reason"):
        params_promote(root, COIN, a.param_set_id, " ")
    params_promote(root, COIN, a.param_set_id, "first live set")
    assert "is live" in params_promote(root, COIN, b.param_set_id, "override the gate")
    assert decisions(root, COIN).row(-2, named=True)["reason"] == "manual: override the gate"

    text = params_show(root, COIN)
    assert f"promoted {b.param_set_id} (pointer version 2)" in text
    assert "gamma (1/quote): calm 0.004, volatile 0.004, cascade 0.02" in text
    assert "kappa 0.05 ± 0.004 1/px" in text
    assert "adverse selection at 5 s (bps): calm 0.9 ± 0.02 (n 180000), volatile 3.1 ± 0.09 (n 34000)" in text
    assert params_rollback(root, COIN).endswith(f"{a.param_set_id} is live (pointer version 3)")
    assert f"* {a.param_set_id}  promoted" in params_show(root, COIN)


def test_coin_names_with_slashes_and_colons(root: Path) -> None:
    end = time.time_ns() // 1_000_000
    for coin in ("PURR/USDC", "xyz:NVDA"):
        ps = ParamSet.create(
            coin=coin,
            window_start_ms=end - HOUR_MS,
            window_end_ms=end,
            code_version="t",
            parameters=parameters(),
            evidence={},
            created_at_ms=end,
        )
        register_candidate(root, ps)
        promote(root, coin, ps.param_set_id, "gate")
        assert load_promoted(root, coin).param_set.coin == coin


def test_watcher_reloads_when_a_broken_pointer_is_repaired_byte_for_byte(root: Path) -> None:
    a = stored(root, 0)
    promote(root, COIN, a.param_set_id, "gate")
    watcher = PromotionWatcher(root, COIN, max_age_s=DAY_S)
    assert watcher.poll()
    pointer_file = root / pointer_path(COIN)
    good = pointer_file.read_bytes()

    pointer_file.write_bytes(b"garbage")
    assert not watcher.poll()
    assert isinstance(watcher.last_error, InvalidParameterSet)
    assert "unreadable" in str(watcher.last_error)
    assert not watcher.poll() and watcher.last_error is not None  # still broken: still refused

    pointer_file.write_bytes(good)
    assert watcher.poll()
    assert watcher.last_error is None and watcher.current.param_set_id == a.param_set_id
    assert not watcher.poll()


def test_promote_and_rollback_rewrite_an_unparsable_pointer_and_say_what_it_held(root: Path) -> None:
    a, b = stored(root, 0), stored(root, 1)
    promote(root, COIN, a.param_set_id, "first")
    promote(root, COIN, b.param_set_id, "second")
    pointer_file = root / pointer_path(COIN)

    pointer_file.write_bytes(b"garbage")
    assert "UNREADABLE promotion pointer" in params_show(root, COIN)
    text = params_rollback(root, COIN)
    assert "held 7 bytes starting b'garbage'" in text
    assert text.endswith(f"rolled back; {a.param_set_id} is live (pointer version 3)")
    assert load_promoted(root, COIN).param_set.param_set_id == a.param_set_id

    pointer_file.write_bytes(b'{"param_set_id": "x"}')
    text = params_promote(root, COIN, a.param_set_id, "repair the pointer of the live set")
    assert "held 21 bytes" in text and text.endswith(f"{a.param_set_id} is live (pointer version 4)")
    assert load_promoted(root, COIN).pointer.version == 4
    # The repair kept the history (a was restored by rolling back to the first promotion), not "roll back to a".
    with pytest.raises(NoPromotedSet, match=f"{a.param_set_id} was the first promotion"):
        params_rollback(root, COIN)


def test_a_directory_where_a_file_belongs_is_a_clear_error(root: Path) -> None:
    a, b = stored(root, 0), stored(root, 1)
    promote(root, COIN, a.param_set_id, "gate")
    watcher = PromotionWatcher(root, COIN, max_age_s=DAY_S)
    assert watcher.poll()
    pointer_file = root / pointer_path(COIN)
    pointer_file.unlink()
    pointer_file.mkdir()
    with pytest.raises(UnreadableRegistryFile, match="cannot be read .*move it away"):
        load_promoted(root, COIN)
    assert not watcher.poll() and isinstance(watcher.last_error, UnreadableRegistryFile)
    assert watcher.current.param_set_id == a.param_set_id
    assert "UNREADABLE promotion pointer" in params_show(root, COIN)
    n_decisions = decisions(root, COIN).height
    with pytest.raises(UnreadableRegistryFile):
        promote(root, COIN, b.param_set_id, "cannot replace a directory")
    assert decisions(root, COIN).height == n_decisions  # nothing recorded for a promotion that cannot happen

    doc = root / set_path(COIN, b.param_set_id)
    doc.unlink()
    doc.mkdir()
    with pytest.raises(UnreadableRegistryFile, match="cannot be read"):
        load_set(root, COIN, b.param_set_id)


def _install_by_hand(root: Path, doc: dict[str, Any]) -> str:
    """Write a set document and a pointer to it directly, as a forger (or a bug) would."""
    doc["param_set_id"] = content_id(doc)
    data = json.dumps(doc).encode()
    (root / set_path(COIN, doc["param_set_id"])).write_bytes(data)
    pointer = {
        "param_set_id": doc["param_set_id"],
        "version": 9,
        "promoted_at_ms": WINDOW_END_MS,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (root / pointer_path(COIN)).parent.mkdir(parents=True, exist_ok=True)
    (root / pointer_path(COIN)).write_text(json.dumps(pointer))
    return doc["param_set_id"]


def test_staleness_cannot_be_opted_out_of_by_the_training_window(root: Path) -> None:
    genuine = stored(root, 0)
    doc = genuine.to_dict()
    doc["training_window"]["end_ms"] = 10**22
    _install_by_hand(root, doc)
    with pytest.raises(InvalidParameterSet, match="end_ms: 10000000000000000000000 ms is at or after 2100"):
        load_for_quoting(root, COIN, max_age_s=DAY_S)
    assert "INVALID, the quoter will not load it: training_window.end_ms" in params_show(root, COIN)

    doc = genuine.to_dict()
    doc["training_window"]["end_ms"] = WINDOW_END_MS + 3 * HOUR_MS  # two hours after the module was imported
    future_id = _install_by_hand(root, doc)
    with pytest.raises(StaleParameterSet, match=f"set {future_id} refused: its training window ends") as refused:
        load_for_quoting(root, COIN, max_age_s=DAY_S)
    ahead_s = int(re.search(r"ends (\d+) s in the future", str(refused.value)).group(1))
    assert 300 < ahead_s <= 7_200 + 1  # however long the suite ran before this test, beyond the 300 s skew
    assert "INVALID, the quoter will not load it: its training window ends" in params_show(root, COIN)
    # Within the allowed clock skew a window end is accepted.
    assert (
        load_for_quoting(root, COIN, max_age_s=DAY_S, now_ms=WINDOW_END_MS + 3 * HOUR_MS - 60_000).param_set_id
        == future_id
    )


def test_param_set_ids_cannot_name_files_outside_the_registry(root: Path, tmp_path: Path) -> None:
    a = stored(root, 0)
    outside = tmp_path / "x.json"
    outside.write_bytes((root / set_path(COIN, a.param_set_id)).read_bytes())
    for bad in ("../../x", "../" + a.param_set_id, a.param_set_id.upper(), a.param_set_id + "0", ""):
        with pytest.raises(InvalidParameterSet, match="is not a parameter set id"):
            params_promote(root, COIN, bad, "hostile id")
        with pytest.raises(InvalidParameterSet, match="is not a parameter set id"):
            load_set(root, COIN, bad)
    assert read_pointer(root, COIN) is None
    (root / pointer_path(COIN)).parent.mkdir(parents=True, exist_ok=True)
    (root / pointer_path(COIN)).write_text(
        json.dumps({"param_set_id": "../../x", "version": 1, "promoted_at_ms": 0, "sha256": file_sha(root, a)})
    )
    with pytest.raises(InvalidParameterSet, match="pointer .* unreadable .*'../../x' is not a parameter set id"):
        load_promoted(root, COIN)


def test_an_identical_rerun_of_the_walk_forward_finds_the_same_set(root: Path) -> None:
    """The candidate's evidence is the walk-forward's pooled row; that row says when it ran (``run_at_ms``), which
    made every rerun of an unchanged day register a new set (issue 16). The id now hashes only what was found."""
    import datetime as dt

    import polars as pl

    from data_lake.lake import Lake
    from data_lake.tables import INGEST_ACCOUNTING, WALK_FORWARD, WALK_FORWARD_PNL
    from validation.decisions.promotion_evidence import candidate_evidence
    from validation.experiments.candidate import CANDIDATE
    from validation.experiments.walk_forward_run import POOLED

    day = dt.date(2026, 1, 2)
    lake = Lake(root)
    start = WINDOW_END_MS - 24 * HOUR_MS
    pnl = pl.DataFrame(
        {
            "coin": COIN,
            "date": day,
            "fold": 0,
            "time": [start + 60_000 * k for k in range(30)],
            "variant": CANDIDATE,
            "pnl": [0.01 * ((k % 3) - 0.5) for k in range(30)],
        }
    )
    lake.write_partition("walk_forward_pnl", WALK_FORWARD_PNL.conform(pnl), COIN, day)
    accounting = {
        "records_in": 10,
        "spilled_in": 0,
        "clean_rows": 9,
        "quarantined": 1,
        "duplicates": 0,
        "spilled_out": 0,
    }
    lake.write_partition(
        "ingest_accounting",
        INGEST_ACCOUNTING.conform(pl.DataFrame([{"coin": COIN, "date": day, **accounting}])),
        COIN,
        day,
    )

    def run_walk_forward_at(run_at_ms: int) -> ParamSet:
        rows = pl.DataFrame(
            [
                {
                    "coin": COIN,
                    "date": day,
                    "fold": fold,
                    "variant": CANDIDATE,
                    "status": "ok",
                    "pnl": 0.15,
                    "n_fills": 240,
                    "sharpe_per_period": 0.08,
                    "run_at_ms": run_at_ms,
                    "code_version": "0.1.0+test",
                }
                for fold in (0, POOLED)
            ]
        )
        lake.write_partition("walk_forward", WALK_FORWARD.conform(rows), COIN, day)
        evidence = candidate_evidence(
            *(
                lake.read_partition(name, COIN, day)
                for name in ("walk_forward", "walk_forward_pnl", "calibration_metrics", "ingest_accounting")
            ),
            day,
        )
        assert evidence["walk_forward"]["figures"]["n_fills"] == 240
        return ParamSet.create(
            coin=COIN,
            window_start_ms=start,
            window_end_ms=WINDOW_END_MS,
            code_version="0.1.0+test",
            parameters=parameters(),
            evidence=evidence,
            created_at_ms=run_at_ms,
        )

    first = register_candidate(root, run_walk_forward_at(WINDOW_END_MS + 1))
    rerun = register_candidate(root, run_walk_forward_at(WINDOW_END_MS + 7 * HOUR_MS))
    assert rerun.param_set_id == first.param_set_id
    assert decisions(root, COIN)["status"].to_list() == ["candidate"]
