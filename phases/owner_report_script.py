"""The owner's ``generate-report.py``: its ``DISPLAY_NAMES`` and ``REFERENCE_MAP`` dicts, read and
edited with libcst.

Why libcst: the script is the person's code, with its comments and layout. A dict entry is added after
the last one in the same layout, and the script is compiled again to prove that it still parses; a
script that does not parse is refused at its line before anything is written.
"""
from __future__ import annotations

import json
from typing import Any

from onboard.phases.owner_layout import REPORT_SCRIPT


def parse_script(text: str, relpath: str = REPORT_SCRIPT):  # -> libcst.Module
    """The report script as a libcst tree; a script that does not parse is BadInput at its line."""
    import libcst as cst

    from onboard.llamacpp.errors import BadInput

    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        line, message = err.raw_line, err.message
    try:  # libcst's native parser sometimes names the line after the error; Python's own compiler is exact
        compile(text, relpath, "exec")
    except SyntaxError as err:
        line, message = err.lineno or line, err.msg
    raise BadInput(f"does not parse as Python: {message}", path=relpath, line=line,
                   fix="correct the script by hand (python -m py_compile shows the same), then advance again")


def _module_dict(module, name: str):  # -> libcst.Dict | None
    """The dict literal assigned to ``name`` at module level."""
    import libcst as cst

    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Dict) and any(
                    isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets):
                return small.value
            if isinstance(small, cst.AnnAssign) and isinstance(small.value, cst.Dict) and \
                    isinstance(small.target, cst.Name) and small.target.value == name:
                return small.value
    return None


def script_dict(text: str, name: str, relpath: str = REPORT_SCRIPT) -> dict[str, Any] | None:
    """The string-keyed entries of the module-level dict ``name`` (None when the script has none)."""
    import libcst as cst

    node = _module_dict(parse_script(text, relpath), name)
    if node is None:
        return None
    out: dict[str, Any] = {}
    for element in node.elements:
        if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
            value = element.value.evaluated_value if isinstance(element.value, cst.SimpleString) else None
            out[element.key.evaluated_value] = value
    return out


def _literal(text: str, like: str) -> str:
    """A Python string literal for ``text`` quoted like ``like`` (the dict's own keys)."""
    if like.startswith("'") and repr(text).startswith("'"):
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


def _appended(node, key: str, value: str):  # (libcst.Dict) -> libcst.Dict
    """``node`` with ``key: value`` after its last element, laid out like the elements before it:
    same indent and spacing around the colon, a trailing comma where the last element had one, the
    last element's own comment kept on its line and comment lines below it kept above the new one."""
    import libcst as cst

    def literal(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    elements = list(node.elements)
    if not elements:
        multiline = isinstance(node.lbrace.whitespace_after, cst.ParenthesizedWhitespace)
        return cst.parse_expression(("{\n    %s: %s,\n}" if multiline else "{%s: %s}") % (literal(key), literal(value)))
    last = elements[-1]
    like = last.key.value if isinstance(last.key, cst.SimpleString) else '"'
    had_comma = isinstance(last.comma, cst.Comma)
    comma_before = last.comma.whitespace_before if had_comma else cst.SimpleWhitespace("")
    sep = elements[-2].comma.whitespace_after if len(elements) >= 2 else node.lbrace.whitespace_after
    if len(elements) == 1 and not isinstance(sep, cst.ParenthesizedWhitespace):
        sep = cst.SimpleWhitespace(" ")  # {"a": 1} -> {"a": 1, "b": 2}
    tail_on_comma = had_comma and isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace)
    close = last.comma.whitespace_after if tail_on_comma else node.rbrace.whitespace_before
    rbrace = node.rbrace
    if isinstance(sep, cst.ParenthesizedWhitespace) and isinstance(close, cst.ParenthesizedWhitespace):
        # one element a line, "}" on its own line: the last element keeps its comment and the comment
        # lines under it, then the new element's line; the new one closes as the last one did
        after_last = close.with_changes(last_line=sep.last_line, indent=sep.indent)
        fresh_close = close.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        new_comma = cst.Comma(whitespace_before=comma_before,
                              whitespace_after=fresh_close if tail_on_comma else cst.SimpleWhitespace("")) \
            if had_comma else cst.MaybeSentinel.DEFAULT
        if not tail_on_comma:
            rbrace = rbrace.with_changes(whitespace_before=fresh_close)
    else:  # on one line, or "}" right after the last element
        after_last = sep.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]) \
            if isinstance(sep, cst.ParenthesizedWhitespace) else sep
        new_comma = last.comma
    element = cst.DictElement(
        key=cst.SimpleString(_literal(key, like)), value=cst.SimpleString(_literal(value, like)),
        whitespace_before_colon=last.whitespace_before_colon, whitespace_after_colon=last.whitespace_after_colon,
        comma=new_comma)
    elements[-1] = last.with_changes(comma=cst.Comma(whitespace_before=comma_before, whitespace_after=after_last))
    return node.with_changes(elements=[*elements, element], rbrace=rbrace)


def script_with_entry(text: str, dict_name: str, key: str, value: str, relpath: str = REPORT_SCRIPT) -> str:
    """The report script with ``dict_name[key] = value`` added in its source (unchanged when the key
    is there already: a person's own entry is kept as they wrote it). The result is compiled to prove
    that it still parses; BadInput when the script does not parse or has no such dict."""
    from onboard.llamacpp.errors import BadInput

    module = parse_script(text, relpath)
    node = _module_dict(module, dict_name)
    if node is None:
        raise BadInput(f"has no module-level {dict_name} = {{...}} dict", path=relpath,
                       fix=f"add `{dict_name} = {{}}` to the script (its report looks names up there), "
                           "or advance with --skip-bench")
    if key in (script_dict(text, dict_name, relpath) or {}):
        return text
    new_text = module.deep_replace(node, _appended(node, key, value)).code
    compile(new_text, relpath, "exec")  # a SyntaxError here is a bug of ours: nothing has been written yet
    if (script_dict(new_text, dict_name, relpath) or {}).get(key) != value:
        raise AssertionError(f"{relpath}: {dict_name}[{key!r}] was not added as meant")
    return new_text
