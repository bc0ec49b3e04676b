"""nbgrader settings of the grader's service (its course folder adds the grading settings).

JupyterHubAuthPlugin reads the grader account's hub groups (none), so the course list of
the grader's JupyterLab shows the course once: its own formgrader. ``nbgrader db student
add`` also puts the student in the ``nbgrader-<course>`` group (the service's role allows
that one group).
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
