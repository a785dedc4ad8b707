r"""Inline LaTeX (``$...$``) in captions and tables, rendered without a network or a TeX install.

Report captions carry math as experiments write it, e.g. ``$n\|\mu\|^4/(\sigma_p^4 d)$``.
:func:`to_html` turns each ``$...$`` span into HTML (Unicode symbols, ``<sub>`` / ``<sup>``,
italic letters) and escapes everything else; :func:`to_text` gives plain Unicode (for CSV and
the terminal): ``n‖μ‖⁴/(σ_p⁴ d)``. The subset covered is what figure captions use: Greek
letters, ``\| \cdot \times \le \ge \approx \sim \propto \infty \to \in \ell \pm``, ``\sqrt{}``,
``\frac{}{}``, accents ``\bar \hat \tilde``, ``\mathrm{} \text{} \operatorname{}``, operator
names (``\max \log \exp ...``), spacing commands, and ``^`` / ``_`` with or without braces.
Unknown commands keep their name without the backslash.
"""

from __future__ import annotations

import html
import re

__all__ = ["to_html", "to_text", "split_math"]

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_SYMBOLS = {
    "|": "‖", "cdot": "·", "times": "×", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "approx": "≈", "sim": "∼", "propto": "∝", "infty": "∞", "to": "→", "rightarrow": "→",
    "in": "∈", "ell": "ℓ", "pm": "±", "ne": "≠", "neq": "≠", "ll": "≪", "gg": "≫",
    "partial": "∂", "nabla": "∇", "sum": "∑", "prod": "∏", "lVert": "‖", "rVert": "‖",
    "Vert": "‖", "langle": "⟨", "rangle": "⟩", "{": "{", "}": "}", "%": "%", "_": "_",
    "ldots": "…", "dots": "…", "cdots": "⋯",
}
_OPERATORS = ("max", "min", "log", "ln", "exp", "sin", "cos", "tan", "arg", "sup", "inf",
              "lim", "det", "tr", "sign", "argmax", "argmin", "Pr", "E")
_SPACES = {",": " ", ";": " ", ":": " ", "!": "", "quad": " ", "qquad": "  ", " ": " "}
_ACCENTS = {"bar": "\u0304", "overline": "\u0304", "hat": "\u0302", "widehat": "\u0302",
            "tilde": "\u0303", "widetilde": "\u0303", "vec": "\u20d7", "dot": "\u0307"}
_WRAPPERS = ("mathrm", "text", "operatorname", "mathbf", "mathit", "mathcal", "mathbb",
             "boldsymbol", "textrm", "left", "right", "big", "Big", "bigl", "bigr")
_SUP = str.maketrans("0123456789+-=()nijkrt", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱʲᵏʳᵗ")
_SUB = str.maketrans("0123456789+-=()aeijkmnoprstx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₘₙₒₚᵣₛₜₓ")


def split_math(text: str) -> list[tuple[bool, str]]:
    """``[(is_math, piece), ...]``: ``$...$`` spans (an unpaired ``$`` stays text)."""
    parts, pos = [], 0
    for m in re.finditer(r"(?<!\\)\$(.+?)(?<!\\)\$", text):
        if m.start() > pos:
            parts.append((False, text[pos:m.start()]))
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(text):
        parts.append((False, text[pos:]))
    return parts


class _Parser:
    """Recursive descent over one math span, producing HTML or Unicode text."""

    def __init__(self, src: str, html_out: bool) -> None:
        self.s, self.i, self.html, self.upright = src, 0, html_out, False

    def group(self) -> str:
        """One argument: ``{...}``, a command, or a single character."""
        self.skip_spaces()
        if self.i >= len(self.s):
            return ""
        if self.s[self.i] == "{":
            self.i += 1
            out = self.seq(stop="}")
            self.i += 1                                    # the closing brace
            return out
        if self.s[self.i] == "\\":
            return self.command()
        ch = self.s[self.i]
        self.i += 1
        return self.atom(ch)

    def skip_spaces(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def atom(self, ch: str) -> str:
        if ch.isalpha() and self.html and not self.upright:
            return f"<i>{ch}</i>"
        return html.escape(ch) if self.html else ch

    def command(self) -> str:
        self.i += 1                                        # the backslash
        m = re.match(r"[A-Za-z]+|.", self.s[self.i:])
        if m is None:
            return ""
        name = m.group(0)
        self.i += len(name)
        if name in _GREEK:
            return self.atom_sym(_GREEK[name], italic=name[0].islower())
        if name in _SYMBOLS:
            return self.atom_sym(_SYMBOLS[name])
        if name in _SPACES:
            return _SPACES[name]
        if name in _OPERATORS:                             # upright, a thin space before an operand
            nxt = self.s[self.i:self.i + 1]
            return name if nxt in ("_", "^", "(", "") else name + "\u2009"
        if name in _ACCENTS:
            arg = self.group()
            return arg + _ACCENTS[name] if not self.html else f"{arg}{_ACCENTS[name]}"
        if name == "sqrt":
            return f"√({self.group()})"
        if name in ("frac", "dfrac", "tfrac"):
            num, den = self.group(), self.group()
            return f"({num})/({den})"
        if name in _WRAPPERS:
            if name in ("left", "right", "big", "Big", "bigl", "bigr"):
                return ""
            before, self.upright = self.upright, name in ("mathrm", "text", "operatorname", "textrm")
            out = self.group()
            self.upright = before
            return out
        return name

    def atom_sym(self, sym: str, italic: bool = False) -> str:
        return f"<i>{sym}</i>" if self.html and italic else sym

    def script(self, kind: str) -> str:
        """``^x`` / ``_{xy}``: <sup>/<sub> in HTML; Unicode super/subscripts in text when every
        character has one, else ``^(xy)``."""
        arg = self.group()
        if self.html:
            return f"<{kind}>{arg}</{kind}>"
        table = _SUP if kind == "sup" else _SUB
        if arg and all(ord(c) in table for c in arg):
            return arg.translate(table)
        return ("^" if kind == "sup" else "_") + (arg if len(arg) == 1 else f"({arg})")

    def seq(self, stop: str = "") -> str:
        out = []
        while self.i < len(self.s) and self.s[self.i] != stop:
            ch = self.s[self.i]
            if ch == "\\":
                out.append(self.command())
            elif ch == "^":
                self.i += 1
                out.append(self.script("sup"))
            elif ch == "_":
                self.i += 1
                out.append(self.script("sub"))
            elif ch == "{":
                out.append(self.group())
            else:
                self.i += 1
                out.append(self.atom(ch))
        return "".join(out)


def _math(span: str, html_out: bool) -> str:
    return _Parser(span, html_out).seq()


def to_html(text: str) -> str:
    """Escaped HTML of ``text`` with each ``$...$`` span rendered (``<span class="math">``)."""
    out = []
    for is_math, piece in split_math(str(text)):
        out.append(f'<span class="math">{_math(piece, True)}</span>' if is_math else html.escape(piece))
    return "".join(out)


def to_text(text: str) -> str:
    """Plain Unicode of ``text``: ``$...$`` spans rendered, the dollars dropped."""
    return "".join(_math(p, False) if m else p for m, p in split_math(str(text)))
