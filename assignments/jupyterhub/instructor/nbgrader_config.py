"""nbgrader settings of instructors' own servers: the course list finds the grader's service.

JupyterHubAuthPlugin reads the instructor's groups (``formgrade-<course>``) and the hub's
services through the server's token: the course list shows the course once, pointing at
the grader's service (instructors' own servers run no formgrader).
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
