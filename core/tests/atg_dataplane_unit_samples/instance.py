"""A class-based plugin: entry point value ``module:attribute``."""

from atg_dataplane import hookimpl


class Plugin:
    @property
    def exploding(self) -> None:
        raise RuntimeError("properties must not be evaluated when scanning for hooks")

    @hookimpl
    def dataplane_progress(self, event: object) -> None:
        pass


plugin = Plugin()
