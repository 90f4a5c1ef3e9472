"""Proxies and CA bundles from the environment, read once when the API client is built.

requests would read ``HTTP_PROXY``, ``NO_PROXY`` and ``REQUESTS_CA_BUNDLE`` from ``os.environ``
at every request; arkworker reads them from the run's environment once (``connect(env)``).
These tests check that a worker behind a proxy keeps working: real requests through a real
loopback forward proxy (:class:`~tests.loopback_proxy.LoopbackProxy`), and over TLS to a
server whose certificate only the given CA bundle trusts.

``tests/data/tls`` holds a test CA (``ca.pem``) and a certificate for 127.0.0.1 it signed
(``server.pem``, ``server.key``), valid until 2126, made with ``openssl req -x509`` (CA:TRUE,
keyCertSign) and ``openssl x509 -req`` (CA:FALSE, serverAuth, subjectAltName IP:127.0.0.1).
"""

import ssl
from pathlib import Path

import pytest

from arkworker.api.client import connect
from arkworker.api.transport import NetworkSettings
from arkworker.errors import ConfigurationError
from arkworker.sandbox import Sandbox
from tests.faulty_proxy import FaultyProxy
from tests.loopback_proxy import LoopbackProxy

TLS = Path(__file__).parent / "data" / "tls"
REFUSING = "http://127.0.0.1:9"  # nothing listens there: a proxy that would be used fails the call


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(db_path=tmp_path_factory.mktemp("network") / "state.sqlite") as sandbox:
        yield sandbox


@pytest.fixture
def proxy():
    with LoopbackProxy() as proxy:
        yield proxy


def base_env(sandbox, **extra):
    """The sandbox's variables, no retry waits, and only the network variables given."""
    return {**sandbox.env(), "ARKWORKER_RETRY_BACKOFF": "0", "ARKWORKER_RETRY_ATTEMPTS": "1", **extra}


def retrieve(api, sandbox):
    element_id = sandbox.listed_element_ids()[0]
    assert api.request("RetrieveElement", id=element_id)["id"] == element_id


# -- proxies ---------------------------------------------------------------------------------


def test_a_proxy_given_by_the_environment_carries_every_request(sandbox, proxy):
    api = connect(base_env(sandbox, HTTP_PROXY=proxy.url))
    retrieve(api, sandbox)
    element_id = sandbox.listed_element_ids()[0]
    assert proxy.paths() == ["/api/v1/openapi/", f"/api/v1/element/{element_id}/"]
    assert proxy.requests[0].startswith(sandbox.url)  # the proxy was asked for the sandbox's URL


def test_a_lower_case_proxy_variable_wins_and_an_empty_one_unsets(sandbox, proxy):
    retrieve(connect(base_env(sandbox, HTTP_PROXY=REFUSING, http_proxy=proxy.url)), sandbox)
    assert len(proxy.requests) == 2
    retrieve(connect(base_env(sandbox, HTTP_PROXY=proxy.url, http_proxy="")), sandbox)
    assert len(proxy.requests) == 2  # the second client went to the sandbox directly


def test_all_proxy_serves_every_scheme(sandbox, proxy):
    retrieve(connect(base_env(sandbox, ALL_PROXY=proxy.url)), sandbox)
    assert len(proxy.requests) == 2


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "localhost, 127.0.0.1", "127.0.0.0/8", "*", "127.0.0.1:{port}"]
)
def test_no_proxy_sends_the_requests_of_its_hosts_directly(sandbox, no_proxy):
    port = sandbox.url.rsplit(":", 1)[1]
    env = base_env(sandbox, HTTP_PROXY=REFUSING, NO_PROXY=no_proxy.format(port=port))
    retrieve(connect(env), sandbox)


@pytest.mark.parametrize("no_proxy", ["example.com", "127.0.0.2", "10.0.0.0/8", "127.0.0.1:1"])
def test_no_proxy_leaves_other_hosts_behind_the_proxy(sandbox, proxy, no_proxy):
    retrieve(connect(base_env(sandbox, HTTP_PROXY=proxy.url, NO_PROXY=no_proxy)), sandbox)
    assert len(proxy.requests) == 2


def test_the_environment_given_to_connect_decides_not_the_process_one(sandbox, monkeypatch):
    """``arkworker run`` gives its environment; a program calling ``connect(env)`` gives its own."""
    monkeypatch.setenv("HTTP_PROXY", REFUSING)
    monkeypatch.setenv("http_proxy", REFUSING)
    retrieve(connect(base_env(sandbox)), sandbox)


def test_no_proxy_matches_domains_and_their_subdomains():
    network = NetworkSettings.from_env(
        {"HTTPS_PROXY": "http://proxy:3128", "no_proxy": ".internal.example, gitlab.example:8443, ::1"}
    )
    proxied = {"https": "http://proxy:3128"}
    assert network.proxies_for("https://arkindex.internal.example/api/v1/") == {}
    assert network.proxies_for("https://internal.example/") == {}
    assert network.proxies_for("https://gitlab.example:8443/") == {}
    assert network.proxies_for("https://gitlab.example/") == proxied
    assert network.proxies_for("https://notinternal.example/") == proxied
    assert network.proxies_for("https://[::1]:8000/") == {}
    assert network.proxies_for("https://arkindex.teklia.com/") == proxied


# -- certificates ----------------------------------------------------------------------------


@pytest.fixture
def tls_front(sandbox):
    """The sandbox behind HTTPS, with a certificate signed by the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    front = FaultyProxy(sandbox)
    front.server.socket = context.wrap_socket(front.server.socket, server_side=True)
    with front:
        yield front.url.replace("http://", "https://")


def tls_env(sandbox, url, **extra):
    # The test environment may name the system's bundle: only the variables given here count.
    return base_env(sandbox, ARKINDEX_API_URL=url, **extra)


def test_without_the_ca_bundle_the_certificate_is_refused(sandbox, tls_front):
    with pytest.raises(ConfigurationError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        connect(tls_env(sandbox, tls_front))


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_bundle_of_the_environment_verifies_the_server(sandbox, tls_front, variable):
    api = connect(tls_env(sandbox, tls_front, **{variable: str(TLS / "ca.pem")}))
    retrieve(api, sandbox)


def test_requests_ca_bundle_wins_over_curl_ca_bundle(sandbox, tls_front):
    env = tls_env(sandbox, tls_front, REQUESTS_CA_BUNDLE=str(TLS / "ca.pem"), CURL_CA_BUNDLE="/nonexistent")
    retrieve(connect(env), sandbox)
