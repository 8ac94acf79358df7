"""Jobs off the calling thread: a failing one is logged and the pool keeps going."""

from __future__ import annotations

import logging
import threading

from common.offthread import ThreadJobs


def test_a_failing_job_is_logged_with_its_context_and_the_next_one_still_runs(caplog):
    jobs = ThreadJobs("test-jobs", failure_event="test.job_failed")
    ran = threading.Event()

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="common.offthread"):
        jobs.submit(broken, log_extra={"trade_id": 7}).result(timeout=5)
        jobs.submit(ran.set).result(timeout=5)
    failure = next(r for r in caplog.records if r.getMessage() == "test.job_failed")
    assert failure.trade_id == 7 and "boom" in failure.exc_text
    assert ran.is_set()


def test_shutdown_waits_for_the_jobs_already_submitted_and_a_later_one_starts_a_new_pool():
    jobs = ThreadJobs("test-jobs", failure_event="test.job_failed")
    release, done = threading.Event(), []

    def slow() -> None:
        release.wait(5)
        done.append("slow")

    jobs.submit(slow)
    threading.Timer(0.05, release.set).start()
    jobs.shutdown()
    assert done == ["slow"]
    assert jobs.submit(done.append, "again").result(timeout=5) is None and done[-1] == "again"
