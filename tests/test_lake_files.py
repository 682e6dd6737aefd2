"""Reports and plots are files in the lake, local or on S3, linked from metadata by URL (never base64 in the log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.metadata import plot_url
from data_lake.lake import Lake
from tests import services

BUCKET = "smallfish-files"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    for module in ("moto", "boto3"):
        pytest.importorskip(module, reason=f"{module} missing: pip install -e '.[production]'")
    with services.moto_s3(BUCKET) as aws:
        yield aws


def test_a_local_plot_is_a_file_under_the_lake_linked_by_a_file_url(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    link = plot_url(lake, PNG, "kappa_fit", "xyz:NVDA", "2026-01-01", "fill_intensity")
    assert isinstance(link, dg.UrlMetadataValue)
    target = tmp_path / "lake" / "plots" / "kappa_fit" / "xyz_NVDA" / "2026-01-01" / "fill_intensity.png"
    assert link.value == target.as_uri() and target.read_bytes() == PNG
    files = lake.files()
    files.write("reports/a/b.html", b"first")
    files.write("reports/a/b.html", b"second")  # replaced whole
    assert files.read("reports/a/b.html") == b"second" and files.read("reports/none.html") is None
    assert sorted(p.name for p in (tmp_path / "lake" / "reports" / "a").iterdir()) == ["b.html"]  # no temp file left


def test_on_an_s3_lake_plots_and_reports_land_on_s3_with_s3_urls(s3: dict[str, str]) -> None:
    import boto3

    lake = Lake(f"s3://{BUCKET}/lake", storage_options=s3)
    link = plot_url(lake, PNG, "hawkes_fit", "BTC", "2026-01-01", "qq_plot")
    assert link.value == f"s3://{BUCKET}/lake/plots/hawkes_fit/BTC/2026-01-01/qq_plot.png"
    client = boto3.client(
        "s3",
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        region_name=s3["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    body = client.get_object(Bucket=BUCKET, Key="lake/plots/hawkes_fit/BTC/2026-01-01/qq_plot.png")["Body"].read()
    assert body == PNG
    files = lake.files()
    files.write("reports/BTC/2026-01-01.html", "<html>café</html>".encode())
    assert files.read("reports/BTC/2026-01-01.html").decode() == "<html>café</html>"
    assert files.url("reports/BTC/2026-01-01.html") == f"s3://{BUCKET}/lake/reports/BTC/2026-01-01.html"
    assert files.stamp("reports/BTC/2026-01-01.html") is not None and files.stamp("reports/none.html") is None
    assert not Path("reports").exists() or not any(Path("reports").rglob("2026-01-01.html"))  # nothing local
