"""The ``jupyter_pipelines`` server extension: configuration, the manager, routes."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Integer, Unicode

from ..engine import ExecutionManager
from .bridge import EventBridge
from .handlers import routes


class PipelinesApp(ExtensionApp):
    """Runs pipeline executions inside the Jupyter server and serves them at ``/pipelines/api``."""

    name = "jupyter_pipelines"

    data_dir = Unicode("", config=True,
                       help="Folder of the store (SQLite), logs and exports. Default: $JUPYTER_PIPELINES_HOME, "
                            "else <jupyter data dir>/pipelines (shared with the CLI and embedded mode).")
    storage_root = Unicode("", config=True,
                           help="Root folder of the 'local' storage backend. Default: <data_dir>/storage.")
    default_compute = Unicode("local", config=True, help="Compute backend used when a request names none.")
    default_storage = Unicode("local", config=True, help="Storage backend used when a request names none.")
    workers = Integer(0, config=True, help="Operations the 'local' backend runs at once; 0 means the CPU count.")
    api_threads = Integer(16, config=True, help="Threads that run blocking engine work for the REST API.")
    resume = Bool(True, config=True, help="Resume executions interrupted by a crash or restart when starting.")

    def initialize_settings(self) -> None:
        self.manager = ExecutionManager(parent=self, data_dir=self.data_dir, storage_root=self.storage_root,
                                        default_compute=self.default_compute, default_storage=self.default_storage,
                                        workers=self.workers)
        self.manager.check_defaults()
        self.executor = ThreadPoolExecutor(max_workers=self.api_threads, thread_name_prefix="pipelines-api")
        loop = asyncio.get_event_loop_policy().get_event_loop()  # the server's loop (IOLoop's); it may not run yet
        bridge = EventBridge(self.manager, loop, self.serverapp.event_logger if self.serverapp else None)
        self.settings.update(pipelines_manager=self.manager, pipelines_executor=self.executor, pipelines_bridge=bridge)
        self.log.info("jupyter_pipelines: store in %s", self.manager.data_dir)
        if self.resume:
            resumed = self.manager.resume()
            if resumed:
                self.log.info("jupyter_pipelines: resumed %s", ", ".join(name for _, name in resumed))

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    async def stop_extension(self) -> None:
        """Stop running jobs; their executions resume when the server starts again."""
        self.settings["pipelines_bridge"].close()
        await asyncio.get_running_loop().run_in_executor(None, self.manager.close)
        self.executor.shutdown(wait=False)

