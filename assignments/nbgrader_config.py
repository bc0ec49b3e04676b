"""nbgrader settings for the mnist-widgets course (run nbgrader from this folder).

What is graded is a model the notebook trains and saves; the grade comes from re-running
the test cells in a fresh Python process (``ReplayTestsInFreshProcess``), never from what
the student's kernel printed. Each notebook runs sealed in a sandbox (``SealedExecute``, in
place of nbgrader's ``Execute``), and so does the measurement of each saved model. See
README.md for the reasons behind each setting.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "mnist-widgets"
# A model file the student submitted is never graded: the notebook must make it again.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "*.keras",
    "*.h5",
]

# Running a submission: one cell may train for up to 10 minutes on a 2-core CPU (the
# slowest reference solution trains about 2 minutes); a cell over the limit is interrupted
# and graded as it stands, and the rest of the notebook still runs.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120

# Graded test cells a student deleted come back (their source is in the gradebook).
c.OverwriteCells.add_missing_cells = True

# Outputs: nbgrader counts lines; TruncateOutputs also caps characters per output.
c.LimitOutput.max_lines = 300
c.LimitOutput.max_traceback = 40
c.TruncateOutputs.max_chars = 20_000

# The sandbox (bubblewrap): caps per notebook; the notebook, its kernel and the grader's
# measurement of its model run with no network, no course files, as an unprivileged user.
c.SealedExecute.memory_limit = 6 * 1024**3  # bytes
c.SealedExecute.process_limit = 1024  # processes and threads at once
c.SealedExecute.wall_timeout = 3600  # seconds for the whole notebook
# Off by default: where no sandbox can start, grade with all of the grader's rights. UNSAFE.
c.SealedExecute.unsafe_grade_without_sandbox = False

c.Autograde.autograde_preprocessors = [
    "mnist_widgets.grading.preprocessors.SealedExecute",
    "mnist_widgets.grading.preprocessors.ReplayTestsInFreshProcess",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "mnist_widgets.grading.preprocessors.TruncateOutputs",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# The replay measures every saved model once per notebook; 15 minutes is a generous cap.
c.ReplayTestsInFreshProcess.timeout = 900

# Feedback shows the visible part of each test and the grader's output, never the hidden
# part nbgrader restored into the autograded notebook (nbgrader#917).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
