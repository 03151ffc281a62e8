"""How a Spark session leadscore starts is sized, and what it says about it (no JVM needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipelines import spark_sources


@pytest.mark.parametrize(("machine", "driver"), [(23.5, 9), (64.0, 25), (3.0, 2), (0.5, 2)])
def test_a_local_driver_gets_a_share_of_the_machine_and_never_less_than_2g(monkeypatch, machine, driver):
    monkeypatch.setattr(spark_sources, "machine_gib", lambda: machine)
    assert spark_sources.local_driver_gib() == driver


def fake_session(master: str, conf: dict):
    context = SimpleNamespace(master=master, getConf=lambda: SimpleNamespace(get=lambda key, default=None:
                                                                              conf.get(key, default)))
    return SimpleNamespace(sparkContext=context)


def test_a_session_says_what_it_runs_with(monkeypatch):
    monkeypatch.setattr(spark_sources, "machine_gib", lambda: 23.5)
    local = spark_sources.describe_session(fake_session("local[*]", {"spark.driver.memory": "9g"}))
    assert local.startswith("Spark local[*]: driver memory 9g") and "40% of this machine's 24 GiB" in local
    cluster = spark_sources.describe_session(fake_session("spark://127.0.0.1:7077", {"spark.executor.memory": "2g",
                                                                                     "spark.executor.cores": "1"}))
    assert cluster.startswith("Spark spark://127.0.0.1:7077: executors with 2g and 1 core(s) each")


def test_the_machine_memory_is_read():
    assert 0.25 < spark_sources.machine_gib() < 100_000
