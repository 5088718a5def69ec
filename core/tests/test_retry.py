"""The run's retry rule inside azure-core's own pipeline, with a scripted transport: which
requests are repeated, how long it waits, and when it gives up. (The policy is the unit
under test; the sandbox-backed tests show the same rule against the emulated services.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from atg_dataplane.retry import (
    EngineRetryPolicy,
    RetrySettings,
    RunStopping,
    idempotent,
    is_transient,
)
from azure.core import PipelineClient
from azure.core.exceptions import (
    DecodeError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import HttpResponseImpl
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

Step = Callable[[Any], Any]


class Scripted(HttpTransport):  # type: ignore[misc]
    """Answers each request with the next step: a status (with headers) or an error."""

    def __init__(self, steps: list[Any]) -> None:
        self.steps = list(steps)
        self.sent: list[str] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(request.method)
        step = self.steps.pop(0) if self.steps else 200
        if isinstance(step, BaseException):
            raise step
        status, headers = step if isinstance(step, tuple) else (step, {})
        return _Response(request, status, headers)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Scripted:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def sleep(self, duration: float) -> None:  # never used: the policy waits on its event
        raise AssertionError("the policy must not sleep through the transport")


class _Response(HttpResponseImpl):
    def __init__(self, request: Any, status: int, headers: dict[str, str]) -> None:
        super().__init__(
            request=request,
            internal_response=None,
            status_code=status,
            headers=headers,
            reason="scripted",
            content_type="application/json",
            stream_download_generator=None,
        )
        self._content = b"{}"

    def read(self) -> bytes:
        return b"{}"


def _send(
    steps: list[Any],
    method: str = "GET",
    settings: RetrySettings | None = None,
    stop: threading.Event | None = None,
) -> tuple[int, Scripted]:
    transport = Scripted(steps)
    policy = EngineRetryPolicy(settings or RetrySettings(backoff_factor=0.0), stop)
    client = PipelineClient("https://example.test", policies=[policy], transport=transport)
    response = client.send_request(HttpRequest(method, "https://example.test/x"))
    return response.status_code, transport


def test_refusals_are_repeated_for_every_method() -> None:
    for method in ("GET", "PUT", "POST", "DELETE"):
        steps = [429, (503, {"Retry-After": "0"}), 408, _refused(), 200]
        status, transport = _send(steps, method)
        assert status == 200 and len(transport.sent) == 5, method


def test_a_lost_answer_repeats_a_read_but_never_a_write() -> None:
    status, transport = _send([ServiceResponseError("lost"), 200], "GET")
    assert status == 200 and transport.sent == ["GET", "GET"]
    for method in ("PUT", "POST", "PATCH", "DELETE"):
        with pytest.raises(ServiceResponseError):
            _send([ServiceResponseError("lost"), 200], method)


def test_an_unknown_outcome_status_repeats_only_reads() -> None:
    for status in (500, 502, 504):
        assert _send([status, 200], "GET")[0] == 200
        got, transport = _send([status, 200], "PUT")
        assert got == status and len(transport.sent) == 1  # handed back to the engine


def _refused() -> ServiceRequestError:
    cause = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return ServiceRequestError(cause, error=cause)


def test_a_write_that_never_left_is_repeated() -> None:
    status, transport = _send([_refused(), 200], "PUT")
    assert status == 200 and transport.sent == ["PUT", "PUT"]
    # The same through requests' wrapping (ConnectionError(MaxRetryError(reason=...))).
    wrapped = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/x", reason=NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    )
    status, transport = _send([ServiceRequestError(wrapped, error=wrapped), 200], "POST")
    assert status == 200 and len(transport.sent) == 2


def test_a_write_whose_answer_timed_out_is_not_repeated_whatever_the_error_class() -> None:
    """A read timeout while reading the answer's body reaches azure-core as a
    ServiceRequestError (requests wraps it in ConnectionError): the request had gone out."""
    timeout = ReadTimeoutError(None, "/x", "Read timed out.")  # type: ignore[arg-type]
    for error in (
        ServiceRequestError(timeout, error=timeout),
        ServiceRequestError("no cause"),
        ServiceRequestError(requests.exceptions.ConnectionError(timeout)),
    ):
        with pytest.raises(ServiceRequestError):
            _send([error, 200], "PUT")
        assert _send([error, 200], "GET")[0] == 200  # a read is repeated


def test_a_busy_copy_source_is_a_refusal() -> None:
    busy = (409, {"x-ms-copy-source-error-code": "ServerBusy"})
    assert _send([busy, 200], "PUT")[0] == 200
    other = (409, {"x-ms-copy-source-error-code": "AuthorizationFailure"})
    assert _send([other, 200], "PUT")[0] == 409


def test_writes_declared_idempotent_are_repeated_like_reads() -> None:
    with idempotent():
        status, transport = _send([ServiceResponseError("lost"), 500, 200], "PUT")
    assert status == 200 and len(transport.sent) == 3
    with pytest.raises(ServiceResponseError):  # the declaration ends with the block
        _send([ServiceResponseError("lost"), 200], "PUT")


def test_other_statuses_are_answers_not_faults() -> None:
    for status in (400, 403, 404, 409, 412):
        got, transport = _send([(status, {"Retry-After": "0"}), 200], "GET")
        assert got == status and len(transport.sent) == 1


def test_attempts_are_bounded() -> None:
    status, transport = _send([503] * 20, "GET", RetrySettings(total=3, backoff_factor=0.0))
    assert status == 503 and len(transport.sent) == 4


def test_retry_after_is_honoured_within_the_request_budget() -> None:
    started = time.monotonic()
    status, transport = _send([(429, {"Retry-After": "0.3"}), 200])
    assert status == 200 and time.monotonic() - started >= 0.3
    # A service that asks for more than the budget left gets no other try.
    tight = RetrySettings(request_seconds=1.0, backoff_factor=0.0)
    started = time.monotonic()
    status, transport = _send([(429, {"Retry-After": "30"}), 200], settings=tight)
    assert status == 429 and len(transport.sent) == 1 and time.monotonic() - started < 1.0
    ms = _send([(429, {"x-ms-retry-after-ms": "50"}), 200])  # Cosmos DB's header
    assert ms[0] == 200


def test_a_stopping_run_ends_the_wait_at_once() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(RunStopping):
        _send([(429, {"Retry-After": "30"}), 200], stop=stop)
    assert time.monotonic() - started < 5


def test_storage_options_are_taken_and_the_location_given_back() -> None:
    transport = Scripted([200])
    policy = EngineRetryPolicy(RetrySettings())
    client = PipelineClient("https://example.test", policies=[policy], transport=transport)
    request = HttpRequest("GET", "https://example.test/x")
    response = client._pipeline.run(
        request, location_mode="primary", hosts={"primary": "x"}, retry_hook=None
    )
    assert response.http_response.location_mode == "primary"
    assert response.context["location_mode"] == "primary"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ServiceRequestError("refused"), True),
        (ServiceResponseError("lost"), True),
        (DecodeError("cut short"), True),
        (ResourceNotFoundError("gone"), False),
        (ValueError("a bug"), False),
        (ConnectionResetError("reset"), True),
    ],
)
def test_what_the_engine_tries_again(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_statuses_the_engine_tries_again() -> None:
    def error(status: int) -> HttpResponseError:
        e = HttpResponseError(message=f"{status}")
        e.status_code = status
        return e

    assert [s for s in (400, 403, 404, 408, 409, 429, 500, 502, 503, 504) if
            is_transient(error(s))] == [408, 429, 500, 502, 503, 504]


def test_an_item_waits_what_the_service_asked_for() -> None:
    settings = RetrySettings()
    assert [settings.item_delay(n) for n in (1, 2, 3, 4)] == [0.25, 1.0, 4.0, 8.0]

    class Answer:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    def error(headers: dict[str, str]) -> HttpResponseError:
        e = HttpResponseError(message="throttled")
        e.response = Answer(headers)  # type: ignore[assignment]
        return e

    assert settings.item_delay(1, error({"Retry-After": "3"})) == 3.0
    assert settings.item_delay(1, error({"x-ms-retry-after-ms": "1500"})) == 1.5
    assert settings.item_delay(3, error({"Retry-After": "1"})) == 4.0
    assert settings.item_delay(1, error({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})) == 0.25
    assert settings.item_delay(1, ValueError("no answer")) == 0.25
