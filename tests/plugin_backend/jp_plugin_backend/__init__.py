"""A third-party compute backend: runs nothing, reports success at once (for tests)."""
from jupyter_pipelines.compute.base import ComputeBackend, JobResult
from jupyter_pipelines.fields import Field
from jupyter_pipelines.statuses import JobStatus


class EchoCompute(ComputeBackend):
    name = "echo-plugin"
    title = "Echo (plug-in)"
    description = "A plug-in backend found through the jupyter_pipelines.compute entry point."
    fields = (
        Field("greeting", "str", "hello", "Printed into every job's log"),
        Field("api_key", "str", None, "A secret the plug-in needs", secret=True),
    )

    def submit(self, job, callbacks):
        with open(job.log_path, "a") as log:
            log.write(f"{self.config['greeting']} from {job.node}\n")
        callbacks.started(None, None)
        callbacks.finished(JobResult(JobStatus.SUCCESS, exit_code=0))
        return self

    def cancel(self):
        pass
