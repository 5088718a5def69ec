from atg_dataplane import hookimpl


@hookimpl
def dataplane_progress(event: object, no_such_argument: object) -> None:
    pass
