"""A certificate as a one-page PDF, written directly (PDF 1.4: one page, Helvetica, text
lines; no dependency). Text is Latin-1 as the standard fonts encode it; anything else is
replaced, so a name in another script shows as '?' rather than breaking the file."""

from __future__ import annotations


def _escape(text: str) -> str:
    latin = text.encode("latin-1", errors="replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def render(title: str, lines: list[str], footer: str) -> bytes:
    """A4 portrait: the title large, then each line, then the footer (the verification text)."""
    ops = ["BT", "/F1 26 Tf", "72 720 Td", f"({_escape(title)}) Tj", "/F1 13 Tf", "0 -48 Td"]
    for line in lines:
        ops += [f"({_escape(line)}) Tj", "0 -22 Td"]
    ops += ["/F1 9 Tf", "0 -40 Td", f"({_escape(footer)}) Tj", "ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
