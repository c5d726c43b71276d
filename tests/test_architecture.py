"""The import rules of ARCHITECTURE.md: imports point down, heavy libraries load lazily."""

import ast
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# poets/'s rooms, and the rooms each may import besides its own: imports point down (ARCHITECTURE.md).
ROOMS = {
    "core": set(),
    "backbones": {"core", "models"},
    "models": {"core"},
    "features": {"core", "backbones", "models"},
    "head": {"core", "backbones"},
    "variants": {"core", "models", "features"},
    "photos": {"core"},
    "reports": {"core", "models", "head", "variants", "photos"},
    "apps": {"core", "photos"},
    "codelab": {"core", "models"},
}
HEAVY = ("tensorflow", "keras", "ai_edge_litert", "mediapipe")


def imports(path, top_level_only=False):
    """The modules `path` imports, as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def modules(package):
    """Every module of `package`, in its subpackages too."""
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path):
    """The dotted name a module is imported by (`poets.head.training`; a package's `__init__`: `poets.head`)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(path) -> str | None:
    """The room of poets/ a module is in (`head` for poets/head/training.py); None outside one."""
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "poets" and len(parts) > 2 else None


def test_every_poets_module_is_in_a_room():
    loose = [p.name for p in modules("poets") if room_of(p) is None and p.stem != "__init__"]
    assert not loose, f"a module of poets/ outside its rooms: {loose}"
    assert {room_of(p) for p in modules("poets")} - {None} == set(ROOMS)
    for room in ROOMS:
        assert ast.get_docstring(ast.parse((ROOT / "poets" / room / "__init__.py").read_text())), room


@pytest.mark.parametrize("path", modules("poets"), ids=module_name)
def test_poets_imports_point_down(path):
    room = room_of(path)
    for name in imports(path):
        assert not name.startswith(("stores", "tasks", "workflows", "luigi")), f"{module_name(path)} imports {name}"
        if room and name.startswith("poets."):
            other = name.split(".")[1]
            allowed = sorted(ROOMS[room]) or "no other room"
            assert other in (room, *ROOMS[room]), f"{module_name(path)} imports {name}: {room} may import {allowed}"


@pytest.mark.parametrize("path", modules("stores"), ids=module_name)
def test_stores_import_only_the_core(path):
    for name in imports(path):
        assert not name.startswith(("tasks", "workflows")), f"{path.name} imports {name}"
        if name.startswith("poets."):
            assert name.split(".")[1] == "core", f"stores/{path.name} imports {name}, outside poets.core"


@pytest.mark.parametrize("path", modules("tasks") + modules("workflows"), ids=module_name)
def test_tasks_see_the_stores_interface_only(path):
    """One store's module is the interface's business: a task that reached into it would tie the
    artifact layer to where artifacts live."""
    inner = {f"stores.{p.stem}" for p in modules("stores")} - {"stores.__init__"}
    assert not [name for name in imports(path) if name in inner]


def test_no_import_cycle_among_the_projects_modules():
    """Lazy imports inside functions count too: a cycle there is a tangle all the same."""
    graph = {}
    for path in modules("poets") + modules("stores") + modules("tasks") + modules("workflows"):
        name = module_name(path)
        graph[name] = {imported for imported in imports(path) if imported != name}
    graph = {name: {other for other in targets if other in graph} for name, targets in graph.items()}

    def cycle_from(start, path, seen):
        for other in graph[path[-1]]:
            if other == start:
                return path
            if other not in seen:
                seen.add(other)
                if found := cycle_from(start, path + [other], seen):
                    return found
        return None

    cycles = [cycle for name in graph if (cycle := cycle_from(name, [name], {name}))]
    assert not cycles, cycles[0]


@pytest.mark.parametrize("path", modules("tasks"), ids=module_name)
def test_tasks_never_import_workflows(path):
    assert not [name for name in imports(path) if name.startswith("workflows")]


@pytest.mark.parametrize("path", modules("poets") + modules("stores") + modules("tasks") + modules("workflows"),
                         ids=module_name)
def test_heavy_libraries_are_imported_lazily(path):
    assert not [name for name in imports(path, top_level_only=True) if name.split(".")[0] in HEAVY]


# A function a reader takes in at once (its docstring counted), a module a reader can hold in mind.
# Over AIMED_FUNCTION lines a function is named in a warning; over LONGEST_FUNCTION it fails: a
# function written the way it reads best may pass 40, where squeezing it to fit would read worse.
AIMED_FUNCTION = 40
LONGEST_FUNCTION = 60
LONGEST_MODULE = 300
PROJECT = modules("poets") + modules("stores") + modules("tasks") + modules("workflows")


@pytest.mark.parametrize("path", PROJECT, ids=module_name)
def test_functions_stay_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lengths = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    advice = "cut it along its ideas (in a task, move the work into poets/)"
    aimed = [f"{name}: {lines} lines" for name, lines in lengths.items() if AIMED_FUNCTION < lines <= LONGEST_FUNCTION]
    if aimed:
        warnings.warn(f"{path.name}: over {AIMED_FUNCTION} lines; where it reads better, {advice}: {aimed}")
    long = [f"{name}: {lines} lines" for name, lines in lengths.items() if lines > LONGEST_FUNCTION]
    # In tasks/ and workflows/: a task reads its inputs, calls poets/ and writes its output.
    assert not long, f"{path.name}: {advice}: {long}"


@pytest.mark.parametrize("path", PROJECT, ids=module_name)
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LONGEST_MODULE, f"{path.parent.name}/{path.name}: {lines} lines; give one of its ideas a module"


def test_the_python_versions_setup_cfg_admits_have_what_the_code_uses():
    import configparser

    from packaging.specifiers import SpecifierSet

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    admitted = SpecifierSet(setup["options"]["python_requires"])
    # hashlib.file_digest came with 3.11: on 3.10 every artifact write failed.
    uses_file_digest = any("file_digest" in path.read_text() for path in ROOT.glob("*/*.py"))
    assert not (uses_file_digest and "3.10" in admitted)
    assert "3.11" in admitted


# The console scripts of workflows/: what two of them need lives below them (poets/serving, tasks/).
COMMANDS = {"app", "review", "artifacts"}


def test_one_command_never_imports_another():
    for name in COMMANDS:
        others = COMMANDS - {name}
        for imported in imports(ROOT / "workflows" / f"{name}.py"):
            assert not any(imported.startswith(f"workflows.{o}") for o in others), f"{name}.py imports {imported}"
