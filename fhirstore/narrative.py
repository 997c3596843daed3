"""Narrative safety: `text.div` must be the restricted XHTML that R4 allows.

R4 forbids active content in narrative (http://hl7.org/fhir/R4/narrative.html#xhtml): no script,
form, frame, object or style-sheet elements, no event-handler attributes, no script URLs. A viewer
that renders narrative must never be handed a script by way of the record.
"""

from html.parser import HTMLParser
from typing import Any

from fhirstore.errors import InvalidResource

_FORBIDDEN_TAGS = frozenset(
    {
        "script",
        "form",
        "base",
        "link",
        "xlink",
        "frame",
        "frameset",
        "iframe",
        "object",
        "applet",
        "embed",
        "head",
        "body",
        "html",
        "meta",
        "style",
        "input",
        "button",
        "textarea",
        "select",
        "svg",
        "math",
    }
)
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "background", "xlink:href"})
_BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problem: str | None = None
        self.first_tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.first_tag = self.first_tag or tag
        if tag in _FORBIDDEN_TAGS:
            self.problem = self.problem or f"element <{tag}> is not allowed"
        for name, value in attrs:
            self._check_attr(name, value or "")

    handle_startendtag = handle_starttag

    def _check_attr(self, name: str, value: str) -> None:
        compact = "".join(value.split()).lower()
        if name.startswith("on"):
            self.problem = self.problem or f"event attribute {name} is not allowed"
        elif name in _URL_ATTRS and compact.startswith(_BAD_SCHEMES):
            self.problem = self.problem or f"{name} with a script URL is not allowed"
        elif name == "style" and ("expression(" in compact or "url(" in compact):
            self.problem = self.problem or "style with url() or expression() is not allowed"


def _divs(node: Any, path: str) -> list[tuple[str, str]]:
    """Every narrative div in the resource, contained resources included."""
    found = []
    text = node.get("text")
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        found.append((f"{path}.text.div", text["div"]))
    for index, contained in enumerate(node.get("contained") or []):
        if isinstance(contained, dict):
            found.extend(_divs(contained, f"{path}.contained[{index}]"))
    return found


def check(doc: dict[str, Any]) -> None:
    """Raise InvalidResource when any narrative is unsafe or is not an XHTML div."""
    for path, div in _divs(doc, str(doc.get("resourceType", "Resource"))):
        checker = _Checker()
        checker.feed(div)
        checker.close()
        if checker.first_tag != "div":
            checker.problem = checker.problem or "narrative must be a single <div> element"
        if checker.problem:
            raise InvalidResource(f"{path}: {checker.problem}", expression=(path,))
