"""Screener inputs: the S3 asset_ctxs CSV, metaAndAssetCtxs / meta / allPerpMetas / perpDexs snapshots, the universe."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import lz4.frame
import polars as pl
import pytest

from data_lake import raw_zone
from data_lake.cleaning import clean_partition
from data_lake.importers import import_file, import_info_snapshot
from data_lake.lake import Lake
from data_lake.parsers.snapshots import HOURLY_FUNDING_FROM_MS, parse_asset_ctxs_csv
from data_lake.universe import universe_for_day

HEADER = (
    "time,coin,funding,open_interest,prev_day_px,day_ntl_vlm,premium,oracle_px,mark_px,mid_px,"
    "impact_bid_px,impact_ask_px"
)
CSV_ROWS = [
    "2024-06-15T12:00:00Z,BTC,0.0000125,32227.66,63564.0,1128098483.2,-0.0002483354,64429.0,64405.0,64412.5,64404.4,64413.0",
    "2024-06-15T12:00:00Z,xyz:NVDA,0.00001,1000.0,120.0,50000.0,0.0,121.0,121.1,0.0,0.0,0.0",
    "2024-06-15T12:01:00Z,xyz:NVDA,0.00001,1000.0,120.0,50000.0,0.0,121.0,0.0,0.0,0.0,0.0",
    "2024-06-15 12:02:00,km:US500,-0.00002,0.0,5400.5,0.0,0.0001,5401.0,5401.5,5401.25,5400.0,5402.0",
    "2024-06-15T12:03:00Z,BTC,0.0000125",
    "2024-06-15T13:00:00Z,,0.1,1,1,1,1,1,1,1,1,1",
    "not-a-time,ETH,0.1,1,1,1,1,1,1,1,1,1",
]
DAY = dt.date(2024, 6, 15)


def _csv(tmp_path: Path, rows: list[str], name: str = "20240615.csv.lz4") -> Path:
    path = tmp_path / "asset_ctxs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lz4.frame.compress(("\n".join([HEADER, *rows]) + "\n").encode()))
    return path


def test_asset_ctxs_csv_reads_zero_as_missing_and_old_funding_as_hourly() -> None:
    rows = parse_asset_ctxs_csv("\n".join([HEADER, *CSV_ROWS, "2023-06-01T00:00:00Z,ETH,0.0001,1,1,1,1,1,1,1,1,1"]))
    good = rows.filter(pl.col("reason").is_null())
    assert good["coin"].to_list() == ["BTC", "xyz:NVDA", "xyz:NVDA", "km:US500", "ETH"]
    nvda = good.row(1, named=True)
    assert (nvda["mid_px"], nvda["premium"], nvda["impact_bid_px"], nvda["mark_px"]) == (None, None, None, "121.1")
    us500 = good.row(3, named=True)
    assert (us500["open_interest"], us500["day_ntl_vlm"], us500["funding"]) == (None, "0.0", "-0.00002")
    assert us500["time"] == int(dt.datetime(2024, 6, 15, 12, 2, tzinfo=dt.UTC).timestamp() * 1000)
    old = good.row(4, named=True)
    assert old["time"] < HOURLY_FUNDING_FROM_MS and float(old["funding"]) == pytest.approx(0.0001 / 8)
    assert rows.filter(pl.col("reason").is_not_null())["reason"].to_list() == [
        "expected 12 comma-separated fields",
        "no coin",
        "no valid time",
    ]
    wrong = parse_asset_ctxs_csv("a,b,c\n1,2,3\n")
    assert wrong["reason"].to_list() == ["unexpected asset_ctxs CSV header: a,b,c"]


def test_asset_ctxs_import_cleans_into_the_lake_with_hip3_names(tmp_path: Path, raw_root: Path, lake: Lake) -> None:
    report = import_file(_csv(tmp_path, CSV_ROWS), "asset-ctxs", raw_root)
    assert (report.items, report.attributed, report.unattributed) == (7, 4, 3)
    assert {f.coin for f in raw_zone.discover(raw_root)} == {"BTC", "xyz:NVDA", "km:US500"}
    assert {f.source for f in raw_zone.discover(raw_root)} == {"asset_ctxs"}
    again = import_file(_csv(tmp_path, CSV_ROWS), "asset-ctxs", raw_root)
    assert (
        again.attributed == 4
        and len(raw_zone.read_lines(raw_zone.raw_path(raw_root, "asset_ctxs", DAY, 12, "xyz:NVDA"))) == 2
    )
    frame = json.loads(raw_zone.read_lines(raw_zone.raw_path(raw_root, "asset_ctxs", DAY, 12, "BTC"))[0])
    assert frame["raw"]["csv"] == CSV_ROWS[0] and frame["raw"]["data"]["ctx"]["impactPxs"] == ["64404.4", "64413.0"]
    for coin in ("BTC", "xyz:NVDA", "km:US500"):
        clean = clean_partition(raw_root, coin, DAY)
        assert clean.accounting.balanced
        lake.write_partition("asset_ctx", clean.tables["asset_ctx"], coin, DAY)
        lake.write_partition("quarantine", clean.quarantine, coin, DAY)
    ctx = lake.read("asset_ctx").sort("coin", "time")
    assert ctx["coin"].to_list() == ["BTC", "km:US500", "xyz:NVDA"]
    assert (ctx["source"] == "asset_ctxs").all()
    nvda = lake.read("asset_ctx", coins="xyz:NVDA").row(0, named=True)
    assert (nvda["mark_px"], nvda["mid_px"], nvda["impact_ask_px"], nvda["open_interest"]) == (
        121.1,
        None,
        None,
        1000.0,
    )
    assert nvda["time"] == int(dt.datetime(2024, 6, 15, 12, tzinfo=dt.UTC).timestamp() * 1000)
    us500 = lake.read("asset_ctx", coins="km:US500").row(0, named=True)
    assert (us500["open_interest"], us500["day_ntl_vlm"], us500["funding"]) == (None, 0.0, -0.00002)
    assert lake.read("quarantine", coins="xyz:NVDA")["reason"].to_list() == ["missing or non-positive mark_px"]


def _meta_and_ctxs() -> list:
    """A metaAndAssetCtxs response of the HIP-3 dex ``xyz`` shaped like the docs' example."""
    meta = {
        "universe": [
            {"name": "xyz:XYZ100", "szDecimals": 4, "maxLeverage": 20},
            {"name": "xyz:TSLA", "szDecimals": 3, "maxLeverage": 10, "isDelisted": True},
        ],
        "collateralToken": 0,
    }
    ctx = {
        "dayNtlVlm": "1000.5",
        "funding": "0.00000625",
        "impactPxs": ["25000.0", "25010.0"],
        "markPx": "25005.0",
        "midPx": None,
        "openInterest": "12.5",
        "oraclePx": "25004.0",
        "premium": "0.0001",
        "prevDayPx": "24900.0",
        "dayBaseVlm": "0.04",
    }
    return [meta, [ctx, {**ctx, "markPx": "250.1", "oraclePx": "250.0", "impactPxs": None}]]


def test_meta_and_asset_ctxs_snapshot_gives_contexts_and_universe(tmp_path: Path, raw_root: Path, lake: Lake) -> None:
    taken = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    source = tmp_path / "snap.json"
    source.write_text(
        json.dumps(
            {
                "request": {"type": "metaAndAssetCtxs", "dex": "xyz"},
                "uri": "x",
                "date": ["Mon, 02 Mar 2026 09:30:00 GMT"],
                "response": _meta_and_ctxs(),
            }
        )
    )
    report = import_file(source, "meta-and-asset-ctxs", raw_root)
    assert (report.items, report.attributed, report.unattributed) == (3, 3, 0)
    clean = clean_partition(raw_root, "xyz:TSLA", taken.date())
    tsla = clean.tables["asset_ctx"].row(0, named=True)
    assert (tsla["coin"], tsla["time"], tsla["mark_px"], tsla["impact_bid_px"], tsla["source"]) == (
        "xyz:TSLA",
        int(taken.timestamp() * 1000),
        250.1,
        None,
        "api",
    )
    listed = universe_for_day(raw_root, taken.date())
    assert listed["coin"].to_list() == ["xyz:XYZ100", "xyz:TSLA"]
    assert listed["dex_index"].to_list() == [None, None]
    perp_dexs = tmp_path / "dexs.json"
    perp_dexs.write_text(
        json.dumps(
            [
                None,
                {"name": "test", "fullName": "test dex", "deployer": "0x1"},
                {"name": "xyz", "fullName": "XYZ", "deployer": "0x2"},
            ]
        )
    )
    import_info_snapshot(perp_dexs, "perp-dexs", raw_root, time_ms=int(taken.timestamp() * 1000) + 1)
    listed = universe_for_day(raw_root, taken.date()).with_columns(date=pl.lit(taken.date()))
    assert listed["asset_id"].to_list() == [120_000, 120_001]
    assert listed["is_delisted"].to_list() == [False, True]
    lake.replace("universe", listed, {"date": taken.date()})
    assert lake.read("universe").sort("asset_id")["coin"].to_list() == ["xyz:XYZ100", "xyz:TSLA"]
    assert universe_for_day(raw_root, taken.date() - dt.timedelta(days=1)).height == 0
    assert universe_for_day(raw_root, taken.date() + dt.timedelta(days=40)).height == 0


@pytest.mark.needs_samples
def test_real_meta_and_all_perp_metas_build_a_universe_with_hip3_asset_ids(
    samples_dir: Path, raw_root: Path, tmp_path: Path
) -> None:
    report = import_file(samples_dir / "info-api/test_get_info__0.json", "meta", raw_root)
    assert report.attributed == 1 and report.written[0].parent.parent.name == "20230717"
    validator = universe_for_day(raw_root, dt.date(2023, 7, 17))
    assert validator.height == 28 and validator["coin"][:3].to_list() == ["BTC", "ETH", "ATOM"]
    assert validator["asset_id"][:3].to_list() == [0, 1, 2] and validator["sz_decimals"][0] == 5
    metas = tmp_path / "all_perp_metas.json"
    shutil.copy(samples_dir / "ws/http_all_perp_metas_non_usdc_collateral.json", metas)
    taken_ms = int(dt.datetime(2026, 1, 10, tzinfo=dt.UTC).timestamp() * 1000)
    import_info_snapshot(metas, "all-perp-metas", raw_root, time_ms=taken_ms)
    dexs = tmp_path / "perp_dexs.json"
    dexs.write_text(json.dumps([None, {"name": "xyz"}, {"name": "km"}, {"name": "hyna"}]))
    import_info_snapshot(dexs, "perp-dexs", raw_root, time_ms=taken_ms)
    listed = universe_for_day(raw_root, dt.date(2026, 1, 10))
    rows = {r["coin"]: r for r in listed.iter_rows(named=True)}
    assert set(rows) == {"BTC", "km:US500", "hyna:BTC"}
    assert (rows["km:US500"]["dex"], rows["km:US500"]["asset_id"], rows["km:US500"]["collateral_token"]) == (
        "km",
        120_000,
        360,
    )
    assert (rows["hyna:BTC"]["asset_id"], rows["hyna:BTC"]["collateral_token"]) == (130_000, 235)
    wrong = import_file(samples_dir / "info-api/test_get_user_fills__0.json", "meta", raw_root)
    assert (wrong.attributed, wrong.unattributed) == (0, 1)
    assert list(wrong.reasons) == ["cassette holds a 'userFills' request, not 'meta'"]
