"""nbgrader settings every server of the class shares: the course id and the exchange.

The hub puts this folder on every server's JUPYTER_CONFIG_PATH (see jupyterhub_config.py);
in a container image, copy this file to /etc/jupyter/nbgrader_config.py instead. The
grader's course folder adds assignments/nbgrader_config.py (grading settings) on top.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "mnist-widgets"
# A folder every server can reach (on one machine a local folder; on Kubernetes a
# ReadWriteMany volume), created once by root, world-writable with the sticky bit:
#   install -d -m 1777 /srv/nbgrader/exchange
# nbgrader makes the course's inbound/ write-only for students (mode 2733) and names each
# submission with a random suffix: a student can submit but cannot list or read others'.
c.Exchange.root = "/srv/nbgrader/exchange"
# With several courses on the same hub, keep each course's files apart in the exchange.
c.Exchange.path_includes_course = True
