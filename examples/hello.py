"""Hello world: write one greeting transcription on every element.

Try it without any Arkindex instance:

    arkworker run examples/hello.py --sandbox
"""

from arkworker import Worker

app = Worker("hello", description="Writes a greeting transcription on every element.")


@app.option("--greeting", default="Hello", show_default=True, help="The word written before the name.")
@app.element
def process(element, ctx):
    text = f"{ctx.args.greeting} {element.name}"
    if ctx.is_read_only:
        ctx.logger.info("Would write %r on %s", text, element)
        return
    ctx.request(
        "CreateTranscription",
        id=element.id,
        body={
            "text": text,
            "confidence": 1.0,
            "orientation": "horizontal-lr",
            "worker_run_id": ctx.worker_run_id,
        },
    )


if __name__ == "__main__":
    raise SystemExit(app.run())
