# nbgrader's configuration for the book's checked exercises (book/_tools/grading.py; see the README).
c = get_config()  # noqa: F821 (nbgrader defines it)

c.CourseDirectory.course_id = "emokd"
# the student version's stub is the chapters' own: the checks say "not implemented yet" for it
c.ClearSolutions.code_stub = {"python": "...  # your code here"}
# each check runs in about a second; a submission that loops forever stops here
c.ExecutePreprocessor.timeout = 120
