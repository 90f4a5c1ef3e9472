"""``arkworker new``: create a worker project that runs and passes its tests from the start.

A project is described by a :class:`~arkworker.scaffold.project.Project` (the slug and what
is derived from it), rendered from the Jinja2 templates shipped with arkworker and written
without ever replacing a file silently::

    from arkworker.scaffold.project import Project
    from arkworker.scaffold.render import render_project, write_project

    project = Project("ocr-lines", kind="element")
    write_project(render_project(project), Path("worker-ocr-lines"))

Modules: ``project`` (values, naming, validation), ``render`` (templates); the click command
is :mod:`arkworker.cli.new`. Jinja2 is imported only when a project is rendered, not by
``arkworker run``.
"""
