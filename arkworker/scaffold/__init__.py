"""``arkworker new``: create a worker project that runs and passes its tests from the start.

A project is described by a :class:`~arkworker.scaffold.project.Project` (the slug and what
is derived from it), rendered from the Jinja2 templates shipped with arkworker and written
without ever replacing a file silently::

    from arkworker.cli.new import project_files
    from arkworker.scaffold.project import Project
    from arkworker.scaffold.render import write_project

    project = Project("ocr-lines", kind="element")
    write_project(project_files(project), Path("worker-ocr-lines"))

Modules: ``project`` (values, naming, validation), ``source`` (where the project gets
arkworker), ``render`` (templates); the click command is :mod:`arkworker.cli.new`, which
adds the project's Arkindex declaration: ``arkworker declare``'s text for the generated
module's app (this layer imports nothing above the base one, the declarations included).
Jinja2 is imported only when a project is rendered, not by ``arkworker run``.
"""
