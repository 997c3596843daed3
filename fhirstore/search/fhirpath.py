"""A compiler for the FHIRPath subset used by the R4 search parameter expressions.

`compile_path(expression, resource_type=...)` turns an expression such as
`Observation.subject.where(resolve() is Patient) | (Observation.value as Quantity)` into a
function `(node, root)` over the stored JSON (plain dicts; `root` is the resource, `node` where
evaluation starts: the resource itself, or one element of a composite) returning
`(value, type_hint)` pairs; `type_hint` names the FHIR type when the path resolved a choice
element (`valueQuantity` -> "Quantity") or was cast with `as`, else None. Union branches rooted
at another resource type are dropped at compile time, so each type runs only its own branches.
Supported: paths, `|`, `(...)`, `as T` / `.as(T)` / `.ofType(T)`, `is T`, `.where(...)` with
`resolve() is T` and `x = 'lit'`, `.exists()`, `and`, `=`/`!=`, `[n]`, `.extension('url')`,
`%resource`. Anything else raises `Unsupported` so the registry can list the parameter as not
indexed. `root_elements` says which top-level elements an expression reads, so the indexer can
skip, without running them, the expressions of elements a resource does not have.
https://hl7.org/fhir/R4/searchparameter-definitions.html, http://hl7.org/fhirpath/N1/
"""

import functools
import re
from collections.abc import Callable
from typing import Any

Item = tuple[Any, str | None]
Step = Callable[[list[Item], dict], list[Item]]
Extractor = Callable[[Any, dict], list[Item]]  # (start node, root resource) -> items

# FHIR data type names that can end a choice element's JSON key (valueQuantity, onsetPeriod ...).
_CHOICE_TYPE_NAMES = """
Boolean Integer String Decimal Uri Url Canonical Base64Binary Instant Date DateTime Time Code Oid
Id Markdown UnsignedInt PositiveInt Uuid Address Age Annotation Attachment CodeableConcept Coding
ContactPoint Count Distance Duration HumanName Identifier Money Period Quantity Range Ratio
Reference SampledData Signature Timing ContactDetail Contributor DataRequirement Expression
ParameterDefinition RelatedArtifact TriggerDefinition UsageContext Dosage Meta
"""
CHOICE_TYPES = frozenset(_CHOICE_TYPE_NAMES.split())
# Element names that are choices (`value[x]`) somewhere in R4: only these are looked up by
# prefix when absent, so a missing plain element costs one dict lookup, not a scan of keys.
_CHOICE_ELEMENT_NAMES = """
abatement additive age allowed amount answer asNeeded author born bounds characteristic chargeItem
citeAs code collected concentration content created date deceased defaultValue definition detail
diagnosis dose doseNumber due duration effective entity event example fastingStatus fixed
identified indication item legallyBinding location manufacturer maxValue medication minValue
minimumVolume module multipleBirth name occurred occurrence offset onset participantEffective
pattern performed period presentation probability procedure product quantity rate reported
scheduled seriesDoses serviced source start statusReason strength studyEffective subject substance
substanceDefinition target time timing topic used value when
"""
CHOICE_ELEMENTS = frozenset(_CHOICE_ELEMENT_NAMES.split())
_ROOTS = ("Resource", "DomainResource")
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<op>!=|[.|()\[\],=%])"
    r"|(?P<name>`[^`]+`|[A-Za-z_][A-Za-z0-9_]*))"
)


class Unsupported(Exception):
    """The expression uses FHIRPath this compiler does not handle."""


def compile_path(expression: str, *, resource_type: str | None) -> Extractor:
    """Compile `expression`; `resource_type` None compiles a relative path (composite parts)."""
    parser = _Parser(_tokenize(expression), resource_type)
    step = parser.expression()
    if parser.peek() is not None:
        raise Unsupported(f"unexpected '{parser.peek()}' in {expression!r}")

    def extract(node: Any, root: dict) -> list[Item]:
        return step([(node, None)], root)

    return extract


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise Unsupported(f"cannot read {text[pos:]!r}")
        tokens.append(match.group().strip())
        pos = match.end()
    return tokens


# --- which top-level elements an expression needs ------------------------------------------------


def root_elements(expression: str, *, resource_type: str) -> frozenset[str] | None:
    """Top-level element names one of which a resource must have for `expression` to yield
    anything, or None when that cannot be told (then the expression always runs).

    A choice element is named without its type (`value` for `valueQuantity`); `present_names`
    gives the names to compare with. Paths stop at the first empty step, so a branch rooted at
    this type whose first element is absent yields nothing; `and` and `=` at the top level may
    yield a Boolean from nothing, and so give None.
    """
    try:
        return _branch_roots(_tokenize(expression), resource_type)
    except Unsupported:
        return None


def _branch_roots(tokens: list[str], resource_type: str) -> frozenset[str] | None:
    branches: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += (token == "(") - (token == ")")
        if depth == 0 and token in ("and", "=", "!="):
            return None
        if depth == 0 and token == "|":
            branches.append([])
        else:
            branches[-1].append(token)
    found: set[str] = set()
    for branch in branches:
        roots = _single_roots(branch, resource_type)
        if roots is None:
            return None
        found |= roots
    return frozenset(found)


def _single_roots(tokens: list[str], resource_type: str) -> frozenset[str] | None:
    if tokens[:1] == ["("]:
        close = _closing(tokens)
        if close == len(tokens) - 1 or tokens[close + 1 : close + 2] == ["."]:
            return _branch_roots(tokens[1:close], resource_type)
        return None
    if len(tokens) < 3 or tokens[1] != "." or not tokens[0][0].isupper():
        return None
    if tokens[0] != resource_type and tokens[0] not in _ROOTS:
        return frozenset()  # another type's branch: compiled to nothing
    if tokens[3:4] == ["("]:
        return None  # `Type.function(...)`
    return frozenset({tokens[2].strip("`")})


def _closing(tokens: list[str]) -> int:
    depth = 0
    for position, token in enumerate(tokens):
        depth += (token == "(") - (token == ")")
        if depth == 0:
            return position
    raise Unsupported("unbalanced parentheses")


def present_names(doc: dict) -> set[str]:
    """The top-level names `doc` has, choice elements also under each name they may stand for."""
    names: set[str] = set()
    for key in doc:
        names.update(_name_prefixes(key))
    return names


@functools.cache
def _name_prefixes(key: str) -> tuple[str, ...]:
    """`effectiveDateTime` -> (`effectiveDateTime`, `effective`, `effectiveDate`)."""
    return (key, *(key[:i] for i in range(1, len(key)) if key[i].isupper()))


# --- steps: each maps a collection of (value, hint) items to another ---------------------------


def _flatten(value: Any, hint: str | None, out: list[Item]) -> None:
    if isinstance(value, list):
        out.extend((v, hint) for v in value if v is not None)
    elif value is not None:
        out.append((value, hint))


def _child(name: str, cast: str | None = None) -> Step:
    """`.name`, resolving choice elements (`value` finds `valueQuantity`, hint "Quantity")."""
    typed_key = name + cast[0].upper() + cast[1:] if cast else None
    is_choice = name in CHOICE_ELEMENTS

    def step(items: list[Item], root: dict) -> list[Item]:
        out: list[Item] = []
        for value, _ in items:
            if not isinstance(value, dict):
                continue
            if typed_key is not None:
                _flatten(value.get(typed_key, value.get(name)), cast, out)
            elif name in value:
                _flatten(value[name], None, out)
            elif is_choice:
                _choice(value, name, out)
        return out

    return step


def _choice(value: dict, name: str, out: list[Item]) -> None:
    size = len(name)
    for key, child in value.items():
        if key.startswith(name) and key[size:] in CHOICE_TYPES:
            _flatten(child, key[size:], out)


def _cast(type_name: str) -> Step:
    """`as T` on a collection whose choice was already resolved: keep only items of type T."""
    wanted = type_name[0].upper() + type_name[1:]

    def step(items: list[Item], root: dict) -> list[Item]:
        return [(v, wanted) for v, hint in items if hint is None or hint == wanted]

    return step


class _Chain:
    """Steps applied in turn, stopping as soon as the collection is empty (most paths are)."""

    __slots__ = ("steps",)

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps = steps

    def __call__(self, items: list[Item], root: dict) -> list[Item]:
        for step in self.steps:
            items = step(items, root)
            if not items:
                return items
        return items


def _then(first: Step, second: Step) -> Step:
    if first is _nothing:
        return _nothing
    steps = first.steps if isinstance(first, _Chain) else (first,)
    return _Chain(tuple(s for s in (*steps, second) if s is not _identity))


def _union(branches: list[Step]) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        out: list[Item] = []
        for branch in branches:
            out.extend(branch(items, root))
        return out

    return step


def _nothing(items: list[Item], root: dict) -> list[Item]:
    return []


def _identity(items: list[Item], root: dict) -> list[Item]:
    return items


def _resource_root(items: list[Item], root: dict) -> list[Item]:
    return [(root, None)]


def _index(position: int) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        return [items[position]] if position < len(items) else []

    return step


def _where(condition: Step) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        return [item for item in items if _truthy(condition([item], root))]

    return step


def _truthy(items: list[Item]) -> bool:
    return bool(items) and items[0][0] is not False


def _exists(items: list[Item], root: dict) -> list[Item]:
    return [(bool(items), "Boolean")]


def _resolve(items: list[Item], root: dict) -> list[Item]:
    """Stand-in for resolve(): the target's type, read from the reference text or `type`."""
    out: list[Item] = []
    for value, _ in items:
        if isinstance(value, dict):
            target = reference_type(value)
            if target:
                out.append(({"resourceType": target}, target))
    return out


def reference_type(reference: dict) -> str:
    """The resource type a Reference points at ("" if it cannot be told)."""
    text = reference.get("reference")
    if isinstance(text, str) and "/" in text:
        parts = text.split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            return parts[-4]
        return parts[-2]
    kind = reference.get("type")
    return kind if isinstance(kind, str) else ""


def _is(type_name: str) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        if len(items) != 1:
            return []
        value, hint = items[0]
        kind = hint or (value.get("resourceType") if isinstance(value, dict) else None)
        return [(kind == type_name, "Boolean")]

    return step


def _extension(url: str) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        out: list[Item] = []
        for value, _ in items:
            if isinstance(value, dict):
                for ext in value.get("extension") or ():
                    if isinstance(ext, dict) and ext.get("url") == url:
                        out.append((ext, "Extension"))
        return out

    return step


def _literal(value: Any) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        return [(value, None)]

    return step


def _compare(left: Step, right: Step, *, negate: bool) -> Step:
    """FHIRPath `=`/`!=`: empty if either side is empty, else equality of the collections."""

    def step(items: list[Item], root: dict) -> list[Item]:
        a = [v for v, _ in left(items, root)]
        b = [v for v, _ in right(items, root)]
        if not a or not b:
            return []
        return [((a == b) != negate, "Boolean")]

    return step


def _and(left: Step, right: Step) -> Step:
    def step(items: list[Item], root: dict) -> list[Item]:
        return [(_truthy(left(items, root)) and _truthy(right(items, root)), "Boolean")]

    return step


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list, building steps as it goes."""

    def __init__(self, tokens: list[str], resource_type: str | None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.resource_type = resource_type
        self.children: dict[int, tuple[Step, str]] = {}  # id(step) -> (base, name) of `.name`

    def peek(self, offset: int = 0) -> str | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise Unsupported(f"expected {expected or 'more'}, found {token}")
        self.pos += 1
        return token

    def expression(self) -> Step:
        left = self.union()
        while self.peek() == "and":
            self.take()
            left = _and(left, self.union())
        return left

    def union(self) -> Step:
        branches = [self.comparison()]
        while self.peek() == "|":
            self.take()
            branches.append(self.comparison())
        live = [b for b in branches if b is not _nothing]
        if not live:
            return _nothing
        return live[0] if len(live) == 1 else _union(live)

    def comparison(self) -> Step:
        left = self.postfix()
        token = self.peek()
        if token in ("=", "!="):
            self.take()
            return _compare(left, self.postfix(), negate=token == "!=")
        return left

    def postfix(self) -> Step:
        step = self.primary()
        while True:
            token = self.peek()
            if token == ".":
                self.take()
                step = self.invocation(step)
            elif token == "[":
                self.take()
                step = _then(step, _index(int(self.take())))
                self.take("]")
            elif token in ("as", "is"):
                self.take()
                type_name = self.type_name()
                step = self.typed(step, type_name) if token == "as" else _then(step, _is(type_name))
            else:
                return step

    def primary(self) -> Step:
        token = self.take()
        if token == "(":
            step = self.expression()
            self.take(")")
            return step
        if token == "%":
            if self.take() != "resource":
                raise Unsupported("only %resource is supported")
            return _resource_root
        if token.startswith("'"):
            return _literal(token[1:-1])
        if token in ("true", "false"):
            return _literal(token == "true")
        if token[0].isupper() and self.peek() != "(":
            return self.root(token)
        self.pos -= 1
        return self.invocation(_identity)

    def root(self, type_name: str) -> Step:
        """A leading type name: this resource's type (or Resource) starts at the root."""
        if self.resource_type is None:
            raise Unsupported(f"type root {type_name} in a relative path")
        if type_name == self.resource_type or type_name in _ROOTS:
            return _resource_root
        return _nothing

    def type_name(self) -> str:
        name = self.take()
        if self.peek() == ".":  # FHIR.Quantity / System.String
            self.take()
            name = self.take()
        return name.strip("`")

    def invocation(self, base: Step) -> Step:
        name = self.take().strip("`")
        if self.peek() != "(":
            step = _then(base, _child(name))
            self.children[id(step)] = (base, name)
            return step
        self.take("(")
        return self.function(base, name)

    def function(self, base: Step, name: str) -> Step:
        if name in ("as", "ofType"):
            type_name = self.type_name()
            self.take(")")
            return self.typed(base, type_name)
        if name in ("exists", "resolve"):
            self.take(")")
            return _then(base, _exists if name == "exists" else _resolve)
        if name == "where":
            condition = self.expression()
            self.take(")")
            return _then(base, _where(condition))
        if name == "extension":
            url = self.take()
            self.take(")")
            return _then(base, _extension(url.strip("'")))
        raise Unsupported(f"function {name}()")

    def typed(self, step: Step, type_name: str) -> Step:
        """`X.name as T` reads the choice key `nameT` directly rather than filtering all choices."""
        if id(step) in self.children:
            base, name = self.children[id(step)]
            return _then(base, _child(name, type_name))
        return _then(step, _cast(type_name))
