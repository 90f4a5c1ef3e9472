"""Local GPG secrets (the fallback after the API) and the redaction of secret values from logs."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import gnupg
import pytest

from arkworker import Worker
from arkworker.run import logs
from tests.conftest import with_worker_run

NAMES = ["creds.json", "nested/config.yml", "token.txt"]
CORPUS = with_worker_run(version={"configuration": {"secrets": NAMES}})


def make_home():
    """A throwaway GnuPG home with one key (short path: gpg-agent's socket name is limited)."""
    home = tempfile.mkdtemp(prefix="arkworker-gpg-")
    gpg = gnupg.GPG(gnupghome=home)
    key = gpg.gen_key(
        gpg.gen_key_input(
            key_type="EDDSA",
            key_curve="ed25519",
            subkey_type="ECDH",
            subkey_curve="cv25519",
            name_email="worker@example.com",
            no_protection=True,
        )
    )
    assert key.fingerprint, key.status
    return home, gpg, key.fingerprint


def drop_home(home):
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={"GNUPGHOME": home}, check=False)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def keyring():
    home, gpg, fingerprint = make_home()
    yield home, gpg, fingerprint
    drop_home(home)


@pytest.fixture
def arkworker_corpus():
    return CORPUS


@pytest.fixture
def secrets_dir(arkworker_env):
    directory = Path(arkworker_env["XDG_CONFIG_HOME"]) / "arkindex" / "secrets"
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def put_secret(keyring, secrets_dir, arkworker_env):
    home, gpg, fingerprint = keyring
    arkworker_env["GNUPGHOME"] = home

    def put(name, text):
        encrypted = gpg.encrypt(text, [fingerprint], always_trust=True, armor=False)
        assert encrypted.ok, encrypted.status
        path = secrets_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encrypted.data)
        return path

    return put


def secrets_worker(seen):
    app = Worker("secrets")

    @app.element
    def process(element, ctx):
        seen.append(dict(ctx.secrets))

    return app


def test_local_secrets_are_decrypted_and_parsed_by_extension(arkworker_run, arkworker_sandbox, put_secret):
    put_secret("creds.json", json.dumps({"token": "local-json-value"}))
    put_secret("nested/config.yml", "url: https://example.com\nretries: 3\n")
    put_secret("token.txt", "local-raw-value\n")
    seen = []
    run = arkworker_run(secrets_worker(seen), elements=arkworker_sandbox.process_element_ids()[:1])
    assert run.exit_code == 0, run.output
    assert seen == [
        {
            "creds.json": {"token": "local-json-value"},
            "nested/config.yml": {"url": "https://example.com", "retries": 3},
            "token.txt": "local-raw-value\n",
        }
    ]
    assert "Secret creds.json read from the local file" in run.output
    assert "local-json-value" not in run.output


def test_a_new_style_config_file_resolves_secret_items_from_local_files(
    arkworker_run, arkworker_sandbox, put_secret, tmp_path
):
    """A secret item's value is the secret's name: the API does not have it, the local file does."""
    put_secret("nested/config.yml", "password: pw-LOCAL-5678\n")
    config = tmp_path / "config.yml"
    config.write_text(
        "configuration:\n"
        "  - {key: threshold, value: 0.5}\n"
        "  - {key: db, value: nested/config.yml, secret: true}\n"
    )
    seen = []
    app = Worker("new-style-secrets")

    @app.element
    def process(element, ctx):
        seen.append((dict(ctx.config), dict(ctx.secrets)))
        ctx.logger.info("Password is %s", ctx.config["db"]["password"])

    run = arkworker_run(
        app, "--dev", "--config", str(config), elements=arkworker_sandbox.process_element_ids()[:1]
    )
    assert run.exit_code == 0, run.output
    assert seen == [
        (
            {"threshold": 0.5, "db": {"password": "pw-LOCAL-5678"}},
            {"db": {"password": "pw-LOCAL-5678"}},  # under the configuration key
        )
    ]
    assert "Secret nested/config.yml read from the local file" in run.output
    assert "Password is [secret]" in run.output and "pw-LOCAL-5678" not in run.output


@pytest.mark.parametrize(
    "arkworker_corpus", [{**CORPUS, "secrets": {"creds.json": '{"token": "from-the-api"}'}}]
)
def test_the_api_wins_over_a_local_file(arkworker_run, arkworker_sandbox, put_secret):
    put_secret("creds.json", json.dumps({"token": "local"}))
    put_secret("nested/config.yml", "a: 1")
    put_secret("token.txt", "raw")
    seen = []
    run = arkworker_run(secrets_worker(seen), elements=arkworker_sandbox.process_element_ids()[:1])
    assert run.exit_code == 0, run.output
    assert seen[0]["creds.json"] == {"token": "from-the-api"}


def test_a_secret_missing_everywhere_names_both_places(arkworker_run, make_app, put_secret, secrets_dir):
    put_secret("creds.json", "{}")
    run = arkworker_run(make_app())
    assert run.exit_code == 1
    assert run.output.splitlines()[-1].startswith(
        "Error: Failed to configure this worker: Secret nested/config.yml is not available on the API ("
    )
    assert f"nor locally ({secrets_dir / 'nested' / 'config.yml'} does not exist)" in run.output


def test_a_local_secret_that_does_not_parse_is_an_error(arkworker_run, make_app, put_secret):
    put_secret("creds.json", "{broken-json-value")
    run = arkworker_run(make_app())
    assert run.exit_code == 1
    assert (
        "Error: Failed to configure this worker: Secret creds.json is not valid JSON (line 1, column 2)"
        in run.output
    )
    assert "broken-json-value" not in run.output


def test_an_undecryptable_local_secret_is_an_error(arkworker_run, make_app, put_secret, secrets_dir):
    other_home, other_gpg, other_key = make_home()
    try:
        foreign = other_gpg.encrypt("{}", [other_key], always_trust=True, armor=False)
    finally:
        drop_home(other_home)
    (secrets_dir / "creds.json").write_bytes(foreign.data)
    run = arkworker_run(make_app())
    assert run.exit_code == 1
    assert (
        "Error: Failed to configure this worker: Cannot decrypt the local secret "
        f"{secrets_dir / 'creds.json'} for secret creds.json" in run.output
    )
    assert "encrypt it for a key of your keyring (GNUPGHOME)" in run.output


@pytest.mark.parametrize(
    "arkworker_corpus",
    [
        {
            **CORPUS,
            "secrets": {
                "creds.json": json.dumps({"token": "tok-VALUE-1234"}),
                "nested/config.yml": "password: pw-VALUE-5678\n",
                "token.txt": "raw-VALUE-9012",
            },
        }
    ],
)
def test_secret_values_never_reach_the_logs(arkworker_run, arkworker_sandbox):
    app = Worker("leaky")

    @app.element
    def process(element, ctx):
        ctx.logger.info("Using token %s", ctx.secrets["creds.json"]["token"])
        ctx.logger.warning("Password is " + ctx.secrets["nested/config.yml"]["password"])
        raise RuntimeError(f"login failed with {ctx.secrets['token.txt']}")

    run = arkworker_run(app, "--verbose", elements=arkworker_sandbox.process_element_ids()[:1])
    assert run.exit_code == 1
    for value in ("tok-VALUE-1234", "pw-VALUE-5678", "raw-VALUE-9012"):
        assert value not in run.output
    assert "Using token [secret]" in run.output
    assert "Password is [secret]" in run.output
    assert "RuntimeError: login failed with [secret]" in run.output  # the traceback, redacted


@pytest.mark.parametrize(
    "arkworker_corpus",
    [
        {
            **with_worker_run(version={"configuration": {"secrets": ["token.txt", "conf.yml"]}}),
            "secrets": {
                "token.txt": "raw-VALUE-9012\n",
                "conf.yml": "pin: 98765432\nkey: |\n  line-ONE-aaaa\n  line-TWO-bbbb\n",
            },
        }
    ],
)
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_secret_values_are_hidden_in_the_forms_they_are_printed_in(arkworker_run, arkworker_sandbox, verbose):
    app = Worker("leaky")

    @app.setup
    def setup(ctx):
        ctx.logger.info("Stripped %s", ctx.secrets["token.txt"].strip())
        ctx.logger.info("Pin %s", ctx.secrets["conf.yml"]["pin"])
        ctx.logger.info("First line %s", ctx.secrets["conf.yml"]["key"].splitlines()[0])
        raise RuntimeError(f"setup failed with {ctx.secrets['token.txt']!r}")

    @app.element
    def process(element, ctx):
        pass

    run = arkworker_run(
        app, *(["--verbose"] if verbose else []), elements=arkworker_sandbox.process_element_ids()[:1]
    )
    assert run.exit_code != 0
    for value in ("raw-VALUE-9012", "98765432", "line-ONE-aaaa"):
        assert value not in run.output
    assert "Stripped [secret]" in run.output
    assert "Pin [secret]" in run.output
    assert "First line [secret]" in run.output
    assert "setup failed with '[secret]" in run.output
    if verbose:
        assert "RuntimeError: setup failed with '[secret]" in run.output  # the traceback


def test_short_numbers_of_a_secret_are_not_hidden():
    redactor = logs.SecretRedactor()
    redactor.add({"port": 5432, "pin": 98765432, "ratio": 0.5, "debug": True})
    assert redactor.redact("port 5432, pin 98765432, ratio 0.5, 10000 rows") == (
        "port 5432, pin [secret], ratio 0.5, 10000 rows"
    )
