"""The CLI's error contract: every mistake ends in one line naming it, exit 2; a runtime failure one line, exit 1;
tracebacks only with --debug. Each case runs ``quoting.cli.main`` on a real temporary lake and raw zone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from data_lake.param_registry import promote, register_candidate
from quoting.cli.contract import UserError
from quoting.cli.main import main
from quoting.runtime.api_key import KEY_ENV, KEY_FILE_ENV
from tests.test_param_registry import make_set


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit code and stderr of one command; stderr must be exactly one line and carry no traceback."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return code, err.strip()


def test_argument_mistakes_are_one_line_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = str(tmp_path / "raw")
    cases = [
        (("simulate", "--days", "0", "--out", raw), "smallfish simulate: error: argument --days: must be > 0, got 0"),
        (("import", "no-such-kind", "x.csv", "--raw", raw), "smallfish import: error: argument kind: invalid choice"),
        (("params", "show", "--coin", ""), "smallfish params: error: argument --coin: not a coin name: ''"),
        (
            ("quote", "--coin", "DEMO", "--mode", "paper", "--replay-speed", "-5"),
            "smallfish quote: error: argument --replay-speed: must be a finite number > 0, got -5",
        ),
        (("record", "--coins", ",", "--out", raw), "smallfish record: error: argument --coins: name at least one coin"),
        (("frobnicate",), "smallfish: error: argument command: invalid choice: 'frobnicate'"),
        ((), "smallfish: error: the following arguments are required: command"),
    ]
    for argv, message in cases:
        code, err = run(capsys, *argv)
        assert code == 2 and err.startswith(message), (argv, err)
        assert "--help" in err  # and what to do


def test_missing_or_mistyped_paths_are_errors_not_empty_successes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMALLFISH_LAKE", str(tmp_path / "lkae"))
    code, err = run(capsys, "params", "show", "--coin", "DEMO")
    assert code == 2 and err == (
        f"smallfish params: error: lake root --lake '{tmp_path / 'lkae'}' does not exist: "
        "check the option or $SMALLFISH_LAKE"
    )
    code, err = run(capsys, "screen", "--lake", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err

    monkeypatch.setenv("SMALLFISH_RAW", str(tmp_path / "typo" / "raw"))
    code, err = run(capsys, "record", "--coins", "DEMO")
    assert code == 2 and "its parent" in err and "does not exist" in err and "$SMALLFISH_RAW" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, err = run(capsys, "simulate", "--out", str(blocker))
    assert code == 2 and err.endswith("is not a directory: check the option")

    code, err = run(capsys, "import", "trades-table", str(tmp_path / "missing.csv"), "--raw", str(tmp_path))
    assert code == 2 and "No such file or directory" in err and "missing.csv" in err

    (tmp_path / "lake").mkdir()
    code, err = run(
        capsys,
        "quote",
        "--coin",
        "DEMO",
        "--mode",
        "paper",
        "--lake",
        str(tmp_path / "lake"),
        "--raw",
        str(tmp_path / "raw"),
        "--feed",
        f"replay:{tmp_path / 'capture'}",
    )
    assert code == 2 and err.endswith(f"--feed replay:{tmp_path / 'capture'}: no such file or directory")


def test_parameter_set_mistakes(capsys: pytest.CaptureFixture[str], lake: Path) -> None:
    params = ("params", "--coin", "BTC", "--lake", str(lake))
    code, err = run(capsys, *params[:1], "rollback", *params[1:])
    assert code == 2 and err.startswith("smallfish params: error: BTC: nothing is promoted, nothing to roll back")
    code, err = run(capsys, *params[:1], "promote", *params[1:], "--id", "0123456789abcdef", "--reason", "r")
    assert code == 2 and "BTC: no parameter set '0123456789abcdef'" in err
    code, err = run(capsys, *params[:1], "promote", *params[1:], "--id", "../../x", "--reason", "r")
    assert code == 2 and "'../../x' is not a parameter set id" in err
    code, err = run(capsys, *params[:1], "promote", *params[1:], "--id", "0123456789abcdef")
    assert code == 2 and "needs --id ID and --reason TEXT" in err

    ps = register_candidate(lake, make_set())
    promote(lake, "BTC", ps.param_set_id, "gate")
    (lake / "promoted" / "BTC.json").write_bytes(b"\x00garbage")
    assert main([*params[:1], "show", *params[1:]]) == 0
    assert "UNREADABLE promotion pointer" in capsys.readouterr().out


def test_live_mode_without_a_key_is_refused_with_exit_2(
    capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    code, err = run(
        capsys,
        "quote",
        "--coin",
        "BTC",
        "--mode",
        "live",
        "--lake",
        str(lake),
        "--raw",
        str(tmp_path / "raw"),
        "--api-url",
        "http://127.0.0.1:9",
    )
    assert code == 2 and err == (
        "smallfish quote: error: live mode needs the API wallet key in SMALLFISH_API_KEY or a "
        "file named by SMALLFISH_API_KEY_FILE"
    )


def test_a_runtime_failure_is_one_line_with_exit_1_and_a_traceback_only_with_debug(
    capsys: pytest.CaptureFixture[str], lake: Path
) -> None:
    log = lake / "param_sets" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{not a delta log")
    started = time.monotonic()
    code, err = run(capsys, "params", "show", "--coin", "BTC", "--lake", str(lake))
    assert (
        code == 1
        and err.startswith("smallfish params: failed: ")
        and err.endswith("(`smallfish --debug ...` shows where)")
    )
    assert time.monotonic() - started < 10

    with pytest.raises(Exception) as raised:  # noqa: PT011 - whatever the Delta reader raises, --debug lets it out
        main(["params", "show", "--coin", "BTC", "--lake", str(lake), "--debug"])
    assert not isinstance(raised.value, UserError)
    with pytest.raises(UserError, match="does not exist"):
        main(["--debug", "params", "show", "--coin", "BTC", "--lake", str(lake / "missing")])


def test_pipeline_ingest_of_a_mistyped_raw_zone_is_an_error_not_zero_partitions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.run import main as pipeline_main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("SMALLFISH_RAW", str(tmp_path / "rwa"))
    assert pipeline_main(["ingest"]) == 2
    assert (
        capsys.readouterr().err.strip().endswith(f"raw zone '{tmp_path / 'rwa'}' does not exist: check $SMALLFISH_RAW")
    )
    (tmp_path / "rwa").mkdir()
    assert pipeline_main(["ingest"]) == 2
    assert "no captures under raw zone" in capsys.readouterr().err
