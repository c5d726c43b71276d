"""The parameter types of the tasks, in one place.

Each names its flag in its errors (`--training-steps: 'many' is not an
integer`) and checks a value given in Python as strictly as one given on the
command line or in luigi.cfg. Built on luigi.Parameter's public hooks only
(parse, normalize): luigi's own Choice and Numerical parameters name neither
the flag nor the choices in a stable order, and check only what they parse.
"""

import re

import luigi

from poets.backbones import architectures
from poets.backbones.joined import Branch
from poets.core.failures import BadInput


class Choice(luigi.Parameter):
    """One of `choices`."""

    flag = "parameter"

    def __init__(self, *args, choices, **kwargs):
        self.choices = tuple(choices)
        super().__init__(*args, **kwargs)

    def normalize(self, x):
        if x in self.choices:
            return x
        raise BadInput(f"{self.flag}: {x!r} is not valid; choose one of: {', '.join(sorted(self.choices))}")


# Each pair's backbones as the pair's graph runs them, where that is not the backbone alone (the smaller one
# resized, or each one cropped: poets.backbones.joined.Branch): a pair's features are computed branch by
# branch, so luigi names a branch in those stages' parameters.
BRANCHES = {branch.name: branch for arch in architectures.ARCHITECTURES.values()
            for branch in getattr(arch, "branches", ()) if branch.name not in architectures.ARCHITECTURES}


class ArchitectureChoice(Choice):
    """--architecture: a name on the command line, in the ids and the records; in the task, the
    Architecture it names, looked up once, here (poets.backbones.architectures)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, choices=architectures.ARCHITECTURES, **kwargs)

    def normalize(self, x):
        # A branch reaches its feature stages as the object, by clone; luigi reads a name back only for the
        # tasks run() yields, none of them a branch's. Named (the command line, luigi.cfg, Python), it is no
        # architecture: one check here, where every task's value is read.
        if isinstance(x, Branch):
            return x
        name = getattr(x, "name", x)
        if name in BRANCHES:
            raise BadInput(f"{self.flag}: {name} is one branch of a pair's features, not an architecture; "
                           f"give {BRANCHES[name].part.name} or the pair")
        # Choice's check has named the flag for an unknown name: the lookup cannot miss.
        return architectures.ARCHITECTURES[super().normalize(name)]

    def serialize(self, x):
        return getattr(x, "name", x)


class Names(luigi.Parameter):
    """A comma-separated list as people type it (`int8,float16`, `0, 1, 2`), a tuple
    in Python; each item one of `choices` where given, else of `kind` (int: from 0
    to 2**32, like a seed). No item twice, at least one. An empty default
    stands for a default the task works out (Compare: --architecture's)."""

    flag = "parameter"

    def __init__(self, *args, choices=None, kind=str, **kwargs):
        self.choices, self.kind = (tuple(choices) if choices else None), kind
        super().__init__(*args, **kwargs)

    def parse(self, x):
        return self.normalize(x)

    def normalize(self, x):
        items = [item.strip() for item in x.split(",")] if isinstance(x, str) else list(x)
        if items == [""]:
            return ()
        values = []
        for item in items:
            if self.choices is not None and item not in self.choices:
                raise BadInput(f"{self.flag}: {item!r} is not valid; choose among: {', '.join(sorted(self.choices))}")
            if self.kind is int:
                try:
                    item = int(item)
                except ValueError:
                    raise BadInput(f"{self.flag}: {item!r} is not an integer") from None
                if not 0 <= item < 2**32:
                    raise BadInput(f"{self.flag}: {item} is not in the range [0, {2**32})")
            values.append(item)
        if len(set(values)) < len(values):
            raise BadInput(f"{self.flag}: {x!r} names an item twice")
        return tuple(values)

    def serialize(self, x):
        return ",".join(str(item) for item in x)


class Number(luigi.Parameter):
    """An int or float between `low` and `high` (each end open or closed)."""

    flag = "parameter"

    def __init__(self, default, *, kind, low, high, low_open=False, high_open=True, **kwargs):
        self.kind, self.low, self.high, self.low_open, self.high_open = kind, low, high, low_open, high_open
        super().__init__(default=default, **kwargs)

    def parse(self, x):
        try:
            value = self.kind(x)
        except ValueError:
            raise BadInput(f"{self.flag}: {x!r} is not {'an integer' if self.kind is int else 'a number'}") from None
        return self.normalize(value)

    def normalize(self, x):
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        if not (above and below):
            span = f"{'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
            raise BadInput(f"{self.flag}: {x} is not in the range {span}")
        return x


class Url(luigi.Parameter):
    """An http://, https:// or file:// URL; `optional` lets it be empty."""

    flag = "parameter"

    def __init__(self, *args, optional=False, **kwargs):
        self.optional = optional
        super().__init__(*args, **kwargs)

    def normalize(self, x):
        from poets.core.download import check_url

        return x if self.optional and not x else check_url(x, self.flag)

    def serialize(self, x):
        # What task ids, luigi's log lines, the scheduler and the records see:
        # never the password of a URL with credentials in it.
        from poets.core.download import redacted

        return redacted(x)


class LabelFixes(luigi.Parameter):
    """A CSV of `path,label` fixes to the dataset's labels, or empty. The file is
    read and checked when the task is made, so a bad one fails before any work."""

    flag = "parameter"

    def normalize(self, x):
        if x:
            from poets.core.label_fixes import read_label_fixes

            read_label_fixes(x, self.flag)
        return x

    def content(self, x) -> str:
        """What the stages it changes hash into their ids: the fixes, not the file's name or layout."""
        import hashlib
        import json

        from poets.core.label_fixes import read_label_fixes

        fixes = {photo: label for photo, (label, _) in read_label_fixes(x, self.flag).items()}
        return hashlib.sha256(json.dumps(fixes, sort_keys=True).encode()).hexdigest()


class Sha256(luigi.Parameter):
    """A sha256 as 64 hexadecimal digits, or empty: not checked."""

    flag = "parameter"

    def normalize(self, x):
        if x and not re.fullmatch(r"[0-9a-fA-F]{64}", x):
            raise BadInput(f"{self.flag}: {x!r} is not a sha256 (64 hexadecimal digits)")
        return x


def positive(default, description):
    """A number above 0 (an int or a float, as `default` is)."""
    return Number(default, kind=type(default), low=0, high=2**31, low_open=True, description=description)


def percentage(default, description):
    return Number(default, kind=int, low=0, high=100, high_open=False, description=description)


def sha256(what):
    return Sha256(default="", description=f"expected sha256 of the {what}; empty: not checked")


def name_flags(params):
    """Tell each of our parameters its flag, for its errors: a Parameter
    object does not know the name it is declared under."""
    for name, param in params:
        if isinstance(param, (Choice, Names, Number, Url, Sha256, LabelFixes)):
            param.flag = "--" + name.replace("_", "-")
    return params


def fine_tune_blocks(default):
    """--fine-tune-blocks; whether the architecture has that many blocks is checked where both are known."""
    return Number(default, kind=int, low=0, high=2**10, description=(
        "fine-tune the base model's last N blocks from cached activations at their input; "
        "0 trains only the head, on the pooled features"))
