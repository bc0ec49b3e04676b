"""Copy to /etc/jupyter/nbgrader_config.py on the hub and on every user's server image.

Students' servers need the course id and the exchange to fetch and submit; the grader's
course folder adds assignments/nbgrader_config.py on top of this.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "mnist-widgets"
# On storage every server mounts (an NFS share, a Kubernetes ReadWriteMany volume),
# created once with: mkdir -p /srv/nbgrader/exchange && chmod 1777 /srv/nbgrader/exchange
c.Exchange.root = "/srv/nbgrader/exchange"
# With several courses on the same hub, keep each course's files apart in the exchange.
c.Exchange.path_includes_course = True
