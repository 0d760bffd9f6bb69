"""The one exception type users see: a message naming the file and the problem."""


class WeaksegError(Exception):
    """An input or configuration problem the user can fix; printed without a traceback."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
