"""A tiny package built into a wheel and installed offline inside the sandbox."""
from importlib import resources

__version__ = "1.2.3"


def answer():
    return 42


def data():
    return resources.files(__name__).joinpath("data.txt").read_text().strip()


def main():
    print("hello from wlpkg", answer(), data())
