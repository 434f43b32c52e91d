"""nbgrader's settings for the labsock practice (the course directory is this folder).

On a class hub, copy this file next to your course's ``source/`` folder (or
into ``/etc/jupyter/``). See docs/teaching-guide.md, "Grading the practice".
"""

c = get_config()  # type: ignore[name-defined]  # noqa: F821  # provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "labsock"
# Each check cell finishes in a few seconds, and every check stops itself well
# within 30 s, even against code that hangs. A teacher who adds heavier hidden
# checks raises this (seconds per cell).
c.Execute.timeout = 30
# Students see the usual nbgrader stub where the solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
