"""Hello world: write one greeting transcription on every element.

Try it without any Arkindex instance:

    arkworker run examples/hello.py --sandbox
"""

from arkworker import Worker

app = Worker("hello", description="Writes a greeting transcription on every element.")


@app.option("--greeting", default="Hello", show_default=True, help="The word written before the name.")
@app.element
def process(element, ctx):
    # In read-only mode (--dev) the helper logs what it would create and sends nothing.
    ctx.create_transcription(element, text=f"{ctx.args.greeting} {element.name}", confidence=1.0)


if __name__ == "__main__":
    raise SystemExit(app.run())
