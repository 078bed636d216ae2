"""Every kind of job is wired where the runner and the API look for it: a lost job of any kind
can be queued again, and every export kind is an ExportJob that announces `export.ready`."""

from __future__ import annotations

from portal.adapters.event_payloads import _JOB_EVENTS
from portal.domain.jobs import EXPORT_KINDS, JobKind
from portal.services.exports import EXPORT_JOB
from portal.services.job_recovery import _FUNCTIONS


def test_every_job_kind_can_be_queued_again() -> None:
    assert set(_FUNCTIONS) == set(JobKind)


def test_every_export_kind_runs_as_an_export_and_announces_its_file() -> None:
    assert JobKind.EXPORT_TRACKING_DIFFERENCE in EXPORT_KINDS
    for kind in EXPORT_KINDS:
        assert _FUNCTIONS[kind] == (EXPORT_JOB, "export")
        assert _JOB_EVENTS[kind.value] == ("export.ready", "ExportJob")
