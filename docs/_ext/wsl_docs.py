"""Sphinx helpers for the wsproto_lite docs: tables and a diagram generated from the code.

Directives (usable from Markdown as ```` ```{name} ````):

``wsl-state-diagram``
    An inline SVG of the connection's state machine, drawn from
    :data:`wsproto_lite._states.TRANSITIONS` at build time (no Graphviz, no
    JavaScript, no network).
``wsl-transitions-table``
    The same table as a matrix: one row per trigger, one column per state.
``wsl-close-codes``
    Every :class:`~wsproto_lite.CloseCode` with its meaning (taken from the
    source comments) and whether :func:`~wsproto_lite.is_valid_on_wire` lets
    it into a close frame, followed by the code ranges of RFC 6455 §7.4.2.
``wsl-optional-automodule``
    ``automodule`` for a module that may not exist yet, or that needs an
    optional dependency (``:requires: trio``): without it, a note says so
    instead of failing the build.

Inline code longer than :data:`LONG_LITERAL` characters in a table cell (a
test's node id, a path) gets the class ``wsl-long``, which ``_static/wsl.css``
lets wrap anywhere, so wide tables fit the text column; shorter code (option
names) keeps its one line.

The extension also resolves references written with a module path
(``wsproto_lite._events.Close``) to the name the reference documents
(``wsproto_lite.Close``), and warns when a public name (``__all__`` of the
modules in ``wsl_public_modules``) is not documented anywhere.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.transforms import SphinxTransform
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

# -- the state diagram ----------------------------------------------------------------

#: Where each state's box goes (centre, in SVG user units). A state missing here
#: is still drawn, on an extra row at the bottom, and a warning asks for a place.
LAYOUT: dict[str, tuple[float, float]] = {
    "CONNECTING": (150, 75),
    "REJECTING": (590, 75),
    "OPEN": (150, 265),
    "CLOSING": (150, 450),
    "CLOSED": (590, 355),
}
#: Where an edge's label goes, when the middle of the edge is not a good place:
#: (source, target) -> (x, y, anchor).
LABEL_AT: dict[tuple[str, str], tuple[float, float, str]] = {
    ("CONNECTING", "OPEN"): (140, 170, "end"),
    ("OPEN", "CLOSING"): (140, 357, "end"),
    ("REJECTING", "CLOSED"): (602, 215, "start"),
    ("CONNECTING", "REJECTING"): (370, 45, "middle"),
}
CHAR_W = 7.9  # width of one character of the 13px monospace font, roughly
LINE_H = 16.0
BOX_H = 36.0


def _box_half_width(name: str) -> float:
    return (len(name) * 9.2 + 28) / 2


def _clip(cx: float, cy: float, tx: float, ty: float, name: str) -> tuple[float, float]:
    """Where the segment from (cx, cy) towards (tx, ty) leaves *name*'s box."""
    dx, dy = tx - cx, ty - cy
    hw, hh = _box_half_width(name) + 3, BOX_H / 2 + 3
    scales = []
    if dx:
        scales.append(hw / abs(dx))
    if dy:
        scales.append(hh / abs(dy))
    t = min(scales) if scales else 0.0
    return cx + dx * t, cy + dy * t


def _label(x: float, y: float, lines: list[str], anchor: str) -> str:
    width = max(len(line) for line in lines) * CHAR_W + 8
    height = len(lines) * LINE_H + 4
    left = {"start": x - 4, "middle": x - width / 2, "end": x - width + 4}[anchor]
    top = y - height / 2
    parts = [
        f'<rect class="wsl-label-bg" x="{left:.1f}" y="{top:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}" rx="3"/>'
    ]
    for i, line in enumerate(lines):
        ly = top + 2 + LINE_H * (i + 0.75)
        parts.append(
            f'<text class="wsl-label" x="{x:.1f}" y="{ly:.1f}" '
            f'text-anchor="{anchor}">{html.escape(line)}</text>'
        )
    return "\n".join(parts)


def render_state_svg() -> tuple[str, list[str]]:
    """The SVG of :data:`wsproto_lite._states.TRANSITIONS`, and any layout warnings."""
    from wsproto_lite._states import TRANSITIONS, ConnectionState

    warnings = []
    pos = dict(LAYOUT)
    extra = [s.name for s in ConnectionState if s.name not in pos]
    for i, name in enumerate(extra):
        warnings.append(f"state {name} has no place in the diagram layout (docs/_ext/wsl_docs.py)")
        pos[name] = (150 + 260 * i, 600)
    # Group the triggers by edge, in table order.
    edges: dict[tuple[str, str], list[str]] = {}
    for (state, trigger), target in TRANSITIONS.items():
        edges.setdefault((state.name, target.name), []).append(trigger.value)

    width = 900
    height = max(y for _, y in pos.values()) + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
        f'role="img" aria-labelledby="wsl-states-title">',
        '<title id="wsl-states-title">The states of a Connection and the triggers '
        "that move it (generated from wsproto_lite._states.TRANSITIONS)</title>",
        "<defs>",
        '<marker id="wsl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" class="wsl-arrowhead"/></marker>',
        "</defs>",
    ]
    labels = []
    for (src, dst), triggers in edges.items():
        sx, sy = pos[src]
        if src == dst:
            # A loop over the top-right corner of the box.
            hw = _box_half_width(src)
            x0, y0 = sx + hw - 18, sy - BOX_H / 2
            x1, y1 = sx + hw, sy - 6
            out.append(
                f'<path class="wsl-edge" d="M {x0:.1f} {y0:.1f} C {x0 + 10:.1f} {y0 - 45:.1f} '
                f'{x1 + 50:.1f} {y1 - 10:.1f} {x1 + 3:.1f} {y1:.1f}" '
                'marker-end="url(#wsl-arrow)"/>'
            )
            labels.append(_label(x1 + 40, y0 - 30, triggers, "start"))
            continue
        tx, ty = pos[dst]
        ax, ay = _clip(sx, sy, tx, ty, src)
        bx, by = _clip(tx, ty, sx, sy, dst)
        out.append(
            f'<line class="wsl-edge" x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
            'marker-end="url(#wsl-arrow)"/>'
        )
        if (src, dst) in LABEL_AT:
            lx, ly, anchor = LABEL_AT[(src, dst)]
        else:
            lx, ly, anchor = (ax + bx) / 2, (ay + by) / 2, "middle"
        labels.append(_label(lx, ly, triggers, anchor))
    out.extend(labels)
    for name, (x, y) in pos.items():
        hw = _box_half_width(name)
        out.append(
            f'<rect class="wsl-state" x="{x - hw:.1f}" y="{y - BOX_H / 2:.1f}" '
            f'width="{2 * hw:.1f}" height="{BOX_H:.1f}" rx="8"/>'
        )
        out.append(
            f'<text class="wsl-state-name" x="{x:.1f}" y="{y + 5:.1f}" '
            f'text-anchor="middle">{name}</text>'
        )
    out.append("</svg>")
    return "\n".join(out), warnings


class StateDiagram(SphinxDirective):
    """Insert the generated state diagram."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        svg, warnings = render_state_svg()
        for message in warnings:
            logger.warning(message, location=self.get_location())
        self.env.note_dependency(_module_file("wsproto_lite._states"))
        container = nodes.container(classes=["wsl-diagram"])
        container += nodes.raw("", svg, format="html")
        return [container]


def _table(header: list[str], rows: list[list[nodes.Node | str]], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["wsl-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)

    def row(cells: list[nodes.Node | str]) -> nodes.row:
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            if isinstance(cell, str):
                entry += nodes.paragraph("", cell)
            else:
                entry += cell
            r += entry
        return r

    thead = nodes.thead()
    thead += row(list(header))
    group += thead
    tbody = nodes.tbody()
    for cells in rows:
        tbody += row(cells)
    group += tbody
    return table


def _literal(text: str) -> nodes.paragraph:
    para = nodes.paragraph()
    para += nodes.literal(text, text)
    return para


class TransitionsTable(SphinxDirective):
    """The transition table as a matrix: triggers down, states across."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from wsproto_lite._states import TRANSITIONS, ConnectionState, Trigger

        self.env.note_dependency(_module_file("wsproto_lite._states"))
        states = list(ConnectionState)
        rows: list[list[nodes.Node | str]] = []
        for trigger in Trigger:
            cells: list[nodes.Node | str] = [trigger.value]
            for state in states:
                target = TRANSITIONS.get((state, trigger))
                cells.append(target.name if target is not None else "—")
            rows.append(cells)
        header = ["trigger", *(s.name for s in states)]
        return [_table(header, rows, [24] + [12] * len(states))]


def _attr_docs(module: str, cls: str) -> dict[str, str]:
    analyzer = ModuleAnalyzer.for_module(module)
    docs = {}
    for (scope, name), lines in analyzer.find_attr_docs().items():
        if scope == cls:
            docs[name] = " ".join(line.strip() for line in lines if line.strip())
    return docs


class CloseCodesTable(SphinxDirective):
    """Every CloseCode, its meaning and whether it may be sent; then the ranges."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from wsproto_lite import CloseCode, is_valid_on_wire

        self.env.note_dependency(_module_file("wsproto_lite._close_codes"))
        docs = _attr_docs("wsproto_lite._close_codes", "CloseCode")
        rows: list[list[nodes.Node | str]] = []
        for code in CloseCode:
            meaning = docs.get(code.name, "")
            prefix = f"{int(code)}: "
            if meaning.startswith(prefix):
                meaning = meaning[len(prefix) :]
            wire = "yes" if is_valid_on_wire(code) else "no (reported only)"
            rows.append([str(int(code)), _literal(code.name), meaning, wire])
        ranges = [
            ("0–999", 0, 999, "not used"),
            ("1004", 1004, 1004, "reserved"),
            ("1016–2999", 1016, 2999, "reserved for future RFCs and extensions"),
            ("3000–3999", 3000, 3999, "registered with IANA (libraries, frameworks)"),
            ("4000–4999", 4000, 4999, "private use: your application's own codes"),
            ("5000 and up", 5000, 65535, "not valid"),
        ]
        for label, low, high, meaning in ranges:
            allowed = {is_valid_on_wire(c) for c in range(low, high + 1)}
            wire = {frozenset({True}): "yes", frozenset({False}): "no"}.get(
                frozenset(allowed), "partly"
            )
            rows.append([label, "", meaning, wire])
        return [_table(["code", "name", "meaning", "valid on the wire"], rows, [10, 28, 50, 14])]


class OptionalAutomodule(SphinxDirective):
    """``automodule`` when the module (and what it needs) can be imported, else a note."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "requires": directives.unchanged,
        "exclude-reexports-of": directives.unchanged,
        "inherited-members": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        missing = [
            req.strip()
            for req in self.options.get("requires", "").split(",")
            if req.strip() and importlib.util.find_spec(req.strip()) is None
        ]
        try:
            exists = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            exists = False
        if not exists or missing:
            why = (
                f"it needs {', '.join(missing)}, which is not installed"
                if exists
                else "it is not part of this build yet"
            )
            note = nodes.note()
            note += nodes.paragraph("", f"The reference of {name} is not included: {why}.")
            return [note]
        lines = [f".. automodule:: {name}", "   :members:"]
        if "inherited-members" in self.options:
            lines.append("   :inherited-members:")
        other = self.options.get("exclude-reexports-of")
        if other:
            module = importlib.import_module(name)
            elsewhere = importlib.import_module(other)
            seen = {id(getattr(elsewhere, n)) for n in getattr(elsewhere, "__all__", ())}
            excluded = [
                n for n in getattr(module, "__all__", ()) if id(getattr(module, n, None)) in seen
            ]
            if excluded:
                lines.append(f"   :exclude-members: {', '.join(excluded)}")
        content = StringList(lines, source=self.get_source_info()[0])
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(content, self.content_offset, container)
        return list(container.children)


def _module_file(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return spec.origin


# -- references ---------------------------------------------------------------------

_MISSING = object()


def _lookup(path: str) -> object:
    """The Python object at dotted *path* (``pkg.module.Class.attr``), or ``_MISSING``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _documented_objects(env: Any) -> dict[int, str]:
    """``id(object) -> documented name`` for every object the py domain knows."""
    cache = getattr(env, "_wsl_documented", None)
    if cache is None or cache[0] != len(env.get_domain("py").objects):
        objects = env.get_domain("py").objects
        mapping: dict[int, str] = {}
        for name in sorted(objects, key=len):
            obj = _lookup(name)
            if obj is not _MISSING and type(obj) not in (str, int, bool, float, type(None)):
                mapping.setdefault(id(obj), name)
        cache = (len(objects), mapping)
        env._wsl_documented = cache
    return cache[1]


def resolve_alias(
    app: Sphinx, env: Any, node: Any, contnode: nodes.Element
) -> nodes.Element | None:
    """Resolve a reference to an object documented under another of its names.

    Docstrings name objects by the module that defines them
    (``wsproto_lite._events.Close``) or relative to the class they are in
    (``Connection.send``); the reference documents each object once, under its
    public name (``wsproto_lite.Close``). Match them by identity.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    candidates = [target]
    if not target.startswith("wsproto_lite"):
        candidates.append("wsproto_lite." + target)
        module = node.get("py:module")
        if module:
            candidates.append(f"{module}.{target}")
    documented = _documented_objects(env)
    domain = env.get_domain("py")
    for candidate in candidates:
        obj = _lookup(candidate)
        if obj is _MISSING or id(obj) not in documented:
            continue
        name = documented[id(obj)]
        if name == target:
            return None
        new = node.deepcopy()
        new["reftarget"] = name
        result = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], name, new, contnode
        )
        if result is not None:
            return result
    return None


def check_public_names(app: Sphinx, env: Any) -> None:
    """Warn for every public name that no page documents (under any of its names)."""
    documented_names = set(env.get_domain("py").objects)
    documented = _documented_objects(env)
    for module_name in app.config.wsl_public_modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue  # an optional module; OptionalAutomodule already said so
        for name in getattr(module, "__all__", ()):
            full = f"{module_name}.{name}"
            if full in documented_names:
                continue
            obj = getattr(module, name, _MISSING)
            if obj is not _MISSING and id(obj) in documented:
                continue
            logger.warning("public name %s is not documented in the reference", full)


def drop_object_base(app: Sphinx, name: str, obj: object, options: Any, bases: list) -> None:
    """Say nothing rather than "Bases: object" for classes that only have that.

    Bases from private modules are left out too: what they give is documented
    on the class itself (see ``:inherited-members:``).
    """
    bases[:] = [b for b in bases if not any(p.startswith("_") for p in b.__module__.split("."))]
    if bases == [object]:
        bases.clear()


# -- long inline code in tables ------------------------------------------------------

#: Inline code in a table cell longer than this may wrap anywhere (``wsl-long``).
LONG_LITERAL = 20


class LongLiteralsInTables(SphinxTransform):
    """Mark long inline code in table cells ``wsl-long`` (see the module docstring)."""

    default_priority = 700

    def apply(self, **kwargs: Any) -> None:
        for table in self.document.findall(nodes.table):
            for literal in table.findall(nodes.literal):
                if len(literal.astext()) > LONG_LITERAL:
                    literal["classes"].append("wsl-long")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("wsl_public_modules", [], "env")
    app.add_directive("wsl-state-diagram", StateDiagram)
    app.add_directive("wsl-transitions-table", TransitionsTable)
    app.add_directive("wsl-close-codes", CloseCodesTable)
    app.add_directive("wsl-optional-automodule", OptionalAutomodule)
    app.add_transform(LongLiteralsInTables)
    app.connect("missing-reference", resolve_alias)
    app.connect("autodoc-process-bases", drop_object_base)
    app.connect("env-check-consistency", check_public_names)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
