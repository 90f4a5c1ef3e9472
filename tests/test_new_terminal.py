"""``arkworker new`` on a real terminal: a pseudo-terminal stands for the user's shell.

CliRunner feeds answers through a pipe; only a terminal shows that the command detects it by
itself (no ``--input``) and that its prompts read and re-ask as a user sees them.
"""

import os
import select
import subprocess
import sys

import pytest
import yaml

pty = pytest.importorskip("pty", reason="needs a pseudo-terminal (POSIX)")

#: How long to wait for a prompt before failing the test with what was printed (a guard
#: against a hang, not a measure).
PATIENCE = 60


class Terminal:
    """``arkworker new ARGS`` with a pseudo-terminal as its standard input and outputs (arkworker
    from the package index: no wheel is built, and the source is never asked for)."""

    def __init__(self, *args, cwd, env):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "arkworker", "new", *args, "--arkworker-source", "index"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.output = ""

    def read(self):
        """Read what is printed, or return False at the end of the output."""
        ready, _, _ = select.select([self.master], [], [], PATIENCE)
        assert ready, f"arkworker new is silent, printed so far:\n{self.output}"
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the command exited and closed the terminal
            return False
        self.output += data.decode(errors="replace")
        return bool(data)

    def expect(self, text):
        start = len(self.output)
        while text not in self.output[start:]:
            assert self.read(), f"{text!r} never came, printed:\n{self.output}"

    def answer(self, prompt, text):
        self.expect(prompt)
        os.write(self.master, text.encode() + b"\r")

    def finish(self):
        while self.read():
            pass
        os.close(self.master)
        return self.process.wait(PATIENCE)


@pytest.fixture
def env(tmp_path):
    """No git identity, so that the author's default is predictable."""
    (tmp_path / "gitconfig").write_text("")
    return {
        **os.environ,
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1",
    }


def test_missing_values_are_asked_for_on_a_terminal(tmp_path, env):
    terminal = Terminal("--dir", "out", cwd=tmp_path, env=env)
    terminal.answer("Slug (lowercase letters, digits, dashes):", "OCR_Lines")
    terminal.answer("e.g. 'ocr-lines'", "ocr-lines")  # refused with an example, asked again
    terminal.answer("Kind (element, dataset) [element]:", "dataset")
    terminal.answer("Display name [Ocr lines]:", "OCR lines")
    terminal.answer("Description [Counts the elements of every dataset set it is given, by type.]:", "")
    terminal.answer("Arkindex worker type [dataset-worker]:", "trainer")
    terminal.answer("Author []:", "Ada Lovelace")
    terminal.answer("Author email []:", "ada@example.com")
    assert terminal.finish() == 0, terminal.output

    assert "Created the dataset worker 'ocr-lines' in out/" in terminal.output
    project = tmp_path / "out"
    declaration = yaml.safe_load((project / "arkindex" / "ocr-lines.yml").read_text())
    assert declaration["display_name"] == "OCR lines"
    assert declaration["type"] == "trainer"
    assert declaration["description"] == "Counts the elements of every dataset set it is given, by type."
    assert "@app.dataset_set" in (project / "worker_ocr_lines.py").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    assert 'authors = [{ name = "Ada Lovelace", email = "ada@example.com" }]' in pyproject


def test_values_given_as_options_are_not_asked_for(tmp_path, env):
    args = ["ocr", "--kind", "element", "--name", "OCR", "--description", "Reads.", "--type", "ner"]
    terminal = Terminal(*args, "--author", "Ada", cwd=tmp_path, env=env)
    terminal.answer("Author email []:", "")
    assert terminal.finish() == 0, terminal.output

    for prompt in ("Slug", "Kind", "Display name", "Description", "worker type", "Author []"):
        assert prompt not in terminal.output
    declaration = yaml.safe_load((tmp_path / "worker-ocr" / "arkindex" / "ocr.yml").read_text())
    assert (declaration["display_name"], declaration["type"]) == ("OCR", "ner")


def test_no_input_on_a_terminal_asks_nothing_and_takes_the_defaults(tmp_path, env):
    terminal = Terminal("ocr-lines", "--no-input", cwd=tmp_path, env=env)
    assert terminal.finish() == 0, terminal.output

    assert "[" not in terminal.output.split("Created")[0]  # no prompt before the summary
    declaration = yaml.safe_load((tmp_path / "worker-ocr-lines" / "arkindex" / "ocr-lines.yml").read_text())
    assert (declaration["display_name"], declaration["type"]) == ("Ocr lines", "recognizer")
    assert "authors" not in (tmp_path / "worker-ocr-lines" / "pyproject.toml").read_text()


def test_an_invalid_slug_given_on_a_terminal_exits_2(tmp_path, env):
    terminal = Terminal("Ocr Lines", cwd=tmp_path, env=env)
    assert terminal.finish() == 2
    assert "Error: Invalid worker slug 'Ocr Lines'" in terminal.output
    assert "e.g. 'ocr-lines'" in terminal.output
    assert list(tmp_path.iterdir()) == [tmp_path / "gitconfig"]
