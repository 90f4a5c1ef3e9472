"""Timeouts on every API request, a time budget per answer, and one clear line for answers that are not the API's.

Through :class:`~tests.faulty_proxy.FaultyProxy` in front of a real sandbox: stalled and
trickling answers, HTML pages, a schema of the wrong shape.
"""

import json
import logging

import pytest

from arkworker.api.client import Timeouts, UnexpectedAnswer, connect
from arkworker.api.transport import AnswerTimeoutExceeded
from arkworker.errors import BadInput, ConfigurationError
from tests.faulty_proxy import FaultyProxy

LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in - Example SSO</title></head><body>...</body></html>"
)


@pytest.fixture
def proxy(arkworker_sandbox):
    with FaultyProxy(arkworker_sandbox) as proxy:
        yield proxy


def page_id(sandbox):
    return sandbox.process_element_ids()[0]


# -- timeouts --------------------------------------------------------------------------------


def test_timeouts_default_to_seconds_not_minutes():
    assert Timeouts.from_env({}) == Timeouts(connect=10, read=30, total=60)
    env = {"ARKWORKER_API_CONNECT_TIMEOUT": "2", "ARKWORKER_API_READ_TIMEOUT": "3.5"}
    assert Timeouts.from_env(env) == Timeouts(connect=2, read=3.5, total=60)


def test_no_timeout_exceeds_the_total():
    assert Timeouts.from_env({"ARKWORKER_API_TIMEOUT": "5"}) == Timeouts(connect=5, read=5, total=5)


@pytest.mark.parametrize(
    ("variable", "what", "default"),
    [
        ("ARKWORKER_API_TIMEOUT", "the longest an API request may take, answer included", "60"),
        ("ARKWORKER_API_CONNECT_TIMEOUT", "the longest wait for a connection", "10"),
        ("ARKWORKER_API_READ_TIMEOUT", "the longest wait for the API to answer", "30"),
    ],
)
@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_bad_timeout_is_one_line(variable, what, default, value):
    with pytest.raises(BadInput) as raised:
        connect({variable: value, "ARKINDEX_API_URL": "http://127.0.0.1:9/"})
    assert str(raised.value) == (
        f"{variable}={value!r} is not valid: expected a number of seconds > 0 ({what}, default {default})."
    )


def test_a_stalled_schema_download_costs_the_read_timeout(proxy):
    proxy.add("openapi", "stall_after", times=None, seconds=30)
    with pytest.raises(ConfigurationError) as raised:
        connect(proxy.env(ARKWORKER_API_READ_TIMEOUT="0.2", ARKWORKER_RETRY_ATTEMPTS="2"))
    assert str(raised.value) == (
        f"Could not load the Arkindex API schema from {proxy.url} (no answer within 0.2 s). "
        "Check ARKINDEX_API_URL (and ARKINDEX_API_SCHEMA_URL if set) and that the server is reachable."
    )
    assert proxy.faults_of("openapi") == ["stall_after", "stall_after"]


def test_a_trickling_schema_is_cut_at_the_budget(proxy):
    """Each byte comes within the read timeout: only the total budget stops it."""
    proxy.add("openapi", "trickle", times=None, interval=0.02)
    env = proxy.env(
        ARKWORKER_API_TIMEOUT="0.3", ARKWORKER_API_READ_TIMEOUT="0.2", ARKWORKER_RETRY_ATTEMPTS="2"
    )
    with pytest.raises(ConfigurationError, match=r"\(the answer took longer than 0\.3 s\)"):
        connect(env)


def test_a_trickling_answer_is_cut_at_the_budget_and_retried(proxy, arkworker_sandbox, caplog):
    caplog.set_level(logging.WARNING, logger="arkworker")
    api = connect(
        proxy.env(ARKWORKER_API_TIMEOUT="0.6", ARKWORKER_API_READ_TIMEOUT="0.5", ARKWORKER_RETRY_ATTEMPTS="2")
    )
    proxy.add("RetrieveElement", "trickle", interval=0.05)
    assert api.request("RetrieveElement", id=page_id(arkworker_sandbox))["name"] == "Page 1"
    assert (
        "RetrieveElement failed (the answer took longer than 0.6 s); attempt 2 of 2 in 0.0 s"
        in caplog.messages
    )
    proxy.add("RetrieveElement", "trickle", times=None, interval=0.05)
    with pytest.raises(AnswerTimeoutExceeded, match=r"^the answer took longer than 0\.6 s$"):
        api.request("RetrieveElement", id=page_id(arkworker_sandbox))


def test_a_stalled_answer_costs_the_read_timeout_and_is_retried(proxy, arkworker_sandbox, caplog):
    caplog.set_level(logging.WARNING, logger="arkworker")
    api = connect(proxy.env(ARKWORKER_API_READ_TIMEOUT="0.5"))
    proxy.add("ListElementChildren", "stall_after", seconds=30)
    assert len(list(api.paginate("ListElementChildren", id=page_id(arkworker_sandbox)))) == 0
    assert "ListElementChildren failed (no answer within 0.5 s); attempt 2 of 5 in 0.0 s" in caplog.messages


# -- answers that are not the API's ----------------------------------------------------------


def test_an_html_answer_is_one_clear_line_and_not_retried(proxy, arkworker_sandbox):
    api = connect(proxy.env())
    proxy.add("RetrieveElement", "serve", content_type="text/html; charset=utf-8", body=LOGIN_PAGE)
    with pytest.raises(UnexpectedAnswer) as raised:
        api.request("RetrieveElement", id=page_id(arkworker_sandbox))
    assert str(raised.value) == (
        f"RetrieveElement got an HTML page titled 'Sign in - Example SSO' from {proxy.url} instead of the "
        "API's JSON: check ARKINDEX_API_URL (the address of an Arkindex instance, such as "
        "https://arkindex.teklia.com/) and that no proxy or login page stands in between"
    )
    assert isinstance(raised.value, ConfigurationError)
    assert proxy.faults_of("RetrieveElement") == ["serve"]


def test_broken_json_is_one_clear_line(proxy, arkworker_sandbox):
    api = connect(proxy.env())
    proxy.add("RetrieveElement", "serve", content_type="application/json", body=b'{"id": "4a1e')
    with pytest.raises(
        UnexpectedAnswer, match=r"^RetrieveElement got invalid JSON, starting '\{\"id\": \"4a1e' from "
    ):
        api.request("RetrieveElement", id=page_id(arkworker_sandbox))


def test_an_html_page_for_the_schema_is_one_line(proxy):
    proxy.add("openapi", "serve", content_type="text/html", body=LOGIN_PAGE)
    with pytest.raises(ConfigurationError) as raised:
        connect(proxy.env())
    assert str(raised.value) == (
        f"The Arkindex API schema from {proxy.url} is not JSON: the server answered an HTML page titled "
        "'Sign in - Example SSO'. Check ARKINDEX_API_URL (and ARKINDEX_API_SCHEMA_URL if set): it must be "
        "the address of an Arkindex instance, such as https://arkindex.teklia.com/"
    )
    assert proxy.faults_of("openapi") == ["serve"]


def test_a_schema_of_the_wrong_shape_is_one_line(proxy):
    proxy.add(
        "openapi", "serve", content_type="application/json", body=json.dumps({"hello": "world"}).encode()
    )
    with pytest.raises(ConfigurationError) as raised:
        connect(proxy.env())
    assert str(raised.value) == (
        f"The document from {proxy.url} is not an OpenAPI schema the Arkindex client can read (openapi: This "
        "field is required; paths: This field is required). Check ARKINDEX_API_URL (and ARKINDEX_API_SCHEMA_URL "
        "if set): it must be the address of an Arkindex instance, such as https://arkindex.teklia.com/"
    )


@pytest.mark.parametrize(
    "url", ["not a url", "arkindex.teklia.com", "ftp://arkindex.teklia.com/", "https://"]
)
def test_an_api_url_that_is_no_url_is_a_usage_error(url):
    with pytest.raises(BadInput) as raised:
        connect({"ARKINDEX_API_URL": url})
    assert str(raised.value) == (
        f"ARKINDEX_API_URL={url!r} is not an http(s) URL: set it to the address of the Arkindex instance, "
        "such as https://arkindex.teklia.com/"
    )


def test_a_schema_file_that_does_not_exist_is_a_usage_error(tmp_path):
    missing = str(tmp_path / "schema.json")
    with pytest.raises(BadInput) as raised:
        connect({"ARKINDEX_API_URL": "http://127.0.0.1:9/", "ARKINDEX_API_SCHEMA_URL": missing})
    assert str(raised.value) == (
        f"ARKINDEX_API_SCHEMA_URL={missing!r} is neither an http(s) URL nor an existing file: set it to the URL "
        "or the path of an OpenAPI schema in JSON, or unset it to use the instance's own"
    )


# -- in a run ---------------------------------------------------------------------------------


def test_a_broken_answer_to_the_configuration_is_retried(arkworker_run, make_app, proxy):
    proxy.add("RetrieveWorkerRun", "cut_after")
    run = arkworker_run(make_app(), env=proxy.env())
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed", run.output
    assert (
        "RetrieveWorkerRun failed (connection reset while reading the answer); attempt 2 of 5" in run.output
    )


def test_an_html_element_fails_that_element_in_one_line(arkworker_run, arkworker_sandbox, make_app, proxy):
    proxy.add("RetrieveElement", "serve", content_type="text/html", body=LOGIN_PAGE)
    run = arkworker_run(make_app(), env=proxy.env())
    assert run.summary == "Ran on 3 elements: 2 completed, 1 failed"
    (failure,) = run.result.failures
    assert "RetrieveElement got an HTML page titled 'Sign in - Example SSO'" in failure.message
    assert "dictionary update sequence" not in run.output


@pytest.mark.parametrize(
    ("env", "code", "line"),
    [
        ({"ARKINDEX_API_URL": "not a url"}, 2, "Error: ARKINDEX_API_URL='not a url' is not an http(s) URL"),
        ({"ARKWORKER_API_TIMEOUT": "0"}, 2, "Error: ARKWORKER_API_TIMEOUT='0' is not valid"),
    ],
)
def test_bad_api_settings_stop_the_run_in_one_line(arkworker_run, make_app, env, code, line):
    run = arkworker_run(make_app(), env=env)
    assert run.exit_code == code
    assert run.output.splitlines()[-1].startswith(line)
    assert "Traceback" not in run.output


def test_an_html_schema_stops_the_run_in_one_line(arkworker_run, make_app, proxy):
    proxy.add("openapi", "serve", content_type="text/html", body=LOGIN_PAGE)
    run = arkworker_run(make_app(), env=proxy.env())
    assert run.exit_code == 1
    assert run.output.splitlines()[-1].startswith(
        f"Error: The Arkindex API schema from {proxy.url} is not JSON: the server answered an HTML page"
    )
