"""``arkworker cache``: look into and merge the SQLite caches of an Arkindex process.

What someone debugging a process needs: what a task's ``db.sqlite`` holds, and the cache a
task would start from, built from its parents' files with the merge a run uses.
"""

from __future__ import annotations

from pathlib import Path

import click

from arkworker.errors import BadInput


@click.group("cache", short_help="Inspect and merge the cache databases of a process.")
def cache_group() -> None:
    """Inspect and merge cache databases (db.sqlite files of an Arkindex process)."""


@cache_group.command("info", short_help="Show a cache database's version and rows.")
@click.argument("database", type=click.Path(dir_okay=False, path_type=Path))
def info_command(database: Path) -> None:
    """Show DATABASE's cache version, its rows per table and its initial elements."""
    from arkworker.storage.cache import SQL_VERSION  # peewee and the images: not for --help
    from arkworker.storage.cache_files import CacheFileError, cache_info

    try:
        info = cache_info(database)
    except CacheFileError as exc:
        raise BadInput(f"{exc}.") from None
    if info.version == SQL_VERSION:
        version = f"version {info.version}"
    else:
        found = "no version table" if info.version is None else f"version {info.version}"
        version = f"{found} (arkworker reads version {SQL_VERSION})"
    click.echo(f"{database}: cache {version}")
    width = max(len(table) for table in info.counts)
    for table, count in info.counts.items():
        click.echo(f"  {table:<{width}}  {'missing' if count is None else count}")
    initial = "unknown (no elements table)" if info.initial_elements is None else info.initial_elements
    click.echo(f"  initial elements: {initial}")


@cache_group.command("merge", short_help="Merge cache databases into a new one.")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("databases", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def merge_command(output: Path, databases: tuple[Path, ...], force: bool) -> None:
    """Merge DATABASES, in order (the last wins on a shared id), into a new cache OUTPUT."""
    from arkworker.storage.cache_files import CacheFileError, cache_info, merge_caches

    if output.exists() and not force:
        raise BadInput(f"{output} already exists: pass --force to replace it, or choose another file.")
    if not output.parent.is_dir():
        raise BadInput(f"The directory of {output} does not exist: create it first.")
    if output.resolve() in {database.resolve() for database in databases}:
        raise BadInput(f"{output} is also an input: write the merge to another file.")
    try:
        merge_caches(output, databases, keep_existing=False)
    except CacheFileError as exc:
        raise BadInput(f"{exc}. Nothing was written.") from None
    rows = ", ".join(f"{table} {count}" for table, count in cache_info(output).counts.items() if count)
    click.echo(f"Merged {len(databases)} cache(s) into {output}, which now holds: {rows or 'no rows'}")
