"""An app that logs while it is imported (a dev-key warning, say): the line must come out
formatted under the CLI's logging, not bare through logging.lastResort."""

from rush import Rush

app = Rush(__name__)
app.logger.warning("IMPORT-TIME-WARNING from the app module")
app.get("/")(lambda request: "ok")
