"""nbgrader settings for every server of the class: the course and its exchange.

Installed as /etc/jupyter/nbgrader_config.py in the image. The exchange is one folder on
storage that every user's server mounts read-write (NFS, a cloud file share, or a local
disk on a one-machine hub): instructors release into it, students fetch from and submit
into it.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "mnist-widgets"
c.Exchange.root = "/srv/nbgrader/exchange"
# With several courses on the same hub, keep each course's files apart in the exchange.
c.Exchange.path_includes_course = True
