"""The Worker registry: decorators record specs, refuse what cannot run, and never do I/O."""

import click
import pytest

from arkworker import RegistrationError, Worker
from arkworker.options import BUILTIN_OPTION_NAMES


def test_decorators_return_the_function_unchanged():
    app = Worker("demo", description="Demo worker")

    def process(element, ctx):
        return element

    assert app.element(process) is process
    assert app.handler.func is process
    assert app.handler.takes_ctx is True
    assert app.kind == "element"
    assert process("x", None) == "x"


def test_both_decorator_forms_work():
    app = Worker("demo")

    @app.element()
    def process(element):
        pass

    @app.setup()
    def first():
        pass

    @app.setup
    def second(ctx):
        pass

    assert app.handler.takes_ctx is False
    assert [spec.func for spec in app.setup_handlers] == [first, second]
    assert [spec.takes_ctx for spec in app.setup_handlers] == [False, True]


@pytest.mark.parametrize(
    "func",
    [lambda element: None, lambda element, ctx: None, lambda element, ctx=None: None, lambda *args: None],
)
def test_element_handler_signatures_accepted(func):
    Worker("demo").element(func)


def test_handler_calls_follow_the_signature():
    app = Worker("demo")
    seen = []
    app.element(lambda element: seen.append(element))
    app.handler("e1", ctx="ignored")
    app2 = Worker("demo2")
    app2.element(lambda element, ctx: seen.append((element, ctx)))
    app2.handler("e2", ctx="ctx")
    assert seen == ["e1", ("e2", "ctx")]


def test_impossible_signatures_are_refused_with_the_fix():
    app = Worker("demo")
    with pytest.raises(RegistrationError, match=r"takes no argument\. It must accept \(element, ctx\)"):
        app.element(lambda: None)
    with pytest.raises(RegistrationError, match=r"requires 3 arguments \(element, ctx, extra\)"):

        @app.element
        def process(element, ctx, extra):
            pass

    with pytest.raises(RegistrationError, match="required keyword-only parameters"):

        @app.element
        def process2(element, *, model):
            pass

    with pytest.raises(RegistrationError, match="async functions are not supported"):

        @app.element
        async def process3(element, ctx):
            pass

    with pytest.raises(RegistrationError, match="is not a function"):
        app.element(42)
    with pytest.raises(RegistrationError, match=r"It must accept \(ctx\) or \(\)"):
        app.setup(lambda ctx, other: None)
    assert app.handler is None


def test_a_second_element_handler_names_both_functions():
    app = Worker("demo")

    @app.element
    def first(element):
        pass

    with pytest.raises(RegistrationError) as info:

        @app.element
        def second(element):
            pass

    message = str(info.value)
    assert "first" in message and "second" in message and "merge them" in message
    assert app.handler.func is first


def test_element_and_dataset_set_handlers_exclude_each_other():
    app = Worker("demo")
    app.element(lambda element: None)
    with pytest.raises(RegistrationError, match="either elements or dataset sets"):
        app.dataset_set(lambda dataset_set: None)


def test_options_are_validated_at_registration():
    app = Worker("demo")
    app.option("--threshold", type=float, default=0.5)
    with pytest.raises(RegistrationError, match="'element' is a built-in option"):
        app.option("--element")
    with pytest.raises(RegistrationError, match="already declared"):
        app.option("--threshold", "-t")
    with pytest.raises(RegistrationError, match="unexpected keyword argument"):
        app.option("--model", colour="red")
    assert [spec.param_decls for spec in app.options] == [("--threshold",)]


def test_reserved_option_names_are_those_of_the_worker_command():
    from arkworker.cli.worker import Invocation, worker_command
    from arkworker.options import BUILTIN_OPTION_NAMES, RunOptions

    app = Worker("demo")
    command = worker_command(app, Invocation(env={}))
    names = {param.name for param in command.get_params(click.Context(command))}
    assert names == BUILTIN_OPTION_NAMES
    assert names - {"help"} == set(vars(RunOptions()).keys()) - {"custom"}


@pytest.mark.parametrize("name", sorted(BUILTIN_OPTION_NAMES))
def test_every_builtin_option_name_is_refused_at_registration(name):
    app = Worker("demo")
    with pytest.raises(RegistrationError, match=f"'{name}' is a built-in option of 'arkworker run'"):
        app.option(f"--{name.replace('_', '-')}")
    with pytest.raises(RegistrationError, match=f"'{name}' is a built-in option"):
        app.option("-x", name)
    assert app.options == ()


def test_registration_after_the_run_started_is_refused():
    app = Worker("demo")
    app.element(lambda element: None)
    app.freeze()
    with pytest.raises(RegistrationError, match=r"already running: @app\.setup must be used at import time"):
        app.setup(lambda: None)
    with pytest.raises(RegistrationError, match="already running"):
        app.option("--late")


def test_a_worker_needs_a_name():
    with pytest.raises(RegistrationError, match="non-empty name"):
        Worker("  ")
    assert repr(Worker("demo")) == "<Worker 'demo' (no handler)>"
