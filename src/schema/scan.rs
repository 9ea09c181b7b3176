//! A cheap, iterative pre-scan of the bytes before libyang sees them.
//!
//! It exists for two reasons:
//! - safety: the yang5 bindings build a `CString` with `.unwrap()` (a NUL
//!   byte would panic), and libyang's XML data parser recurses once per
//!   element level (100,000 nested elements would overflow the stack); the
//!   scan rejects both without recursion;
//! - diagnostics: libyang orders data siblings by schema, and its messages
//!   do not carry the namespace of an unknown element; the scan records the
//!   first levels of elements in document order with their resolved
//!   namespace, so that errors can name the offending element (RFC 6241
//!   Appendix A `bad-element`, `bad-namespace`).
//!
//! It is not an XML validator: libyang remains the judge of well-formedness.
//! On input it cannot follow it stops recording and lets libyang report.

/// The deepest element nesting accepted. The NETCONF `<rpc>` of our module
/// needs 3 levels, operational state about 6; 64 leaves ample room.
pub(crate) const MAX_DEPTH: usize = 64;

/// Why the input was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// A NUL byte at this offset (not allowed anywhere in XML 1.0, §2.2).
    Nul(usize),
    /// Element nesting deeper than [`MAX_DEPTH`].
    TooDeep(usize),
    /// A character reference (`&#0;`, `&#x1;` …) to a character XML does
    /// not allow (XML 1.0 §4.1 WFC "Legal Character"); once decoded, a NUL
    /// would reach the bindings' `CString::new(..).unwrap()`.
    IllegalCharRef(usize),
}

/// XML 1.0 §2.2 `Char`.
fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// The offset of the first character reference to an illegal character.
fn illegal_char_ref(input: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(off) = input[from..].windows(2).position(|w| w == b"&#") {
        let at = from + off;
        let body = &input[at + 2..];
        let (digits, radix) = match body.first() {
            Some(b'x') => (&body[1..], 16),
            _ => (body, 10),
        };
        let end = digits
            .iter()
            .position(|b| *b == b';')
            .unwrap_or(digits.len());
        let text = std::str::from_utf8(&digits[..end]).unwrap_or("");
        // Malformed references are left to the parser; only a well-formed
        // one naming an illegal character is refused here.
        if end < digits.len() && !text.is_empty() {
            let legal = u32::from_str_radix(text, radix)
                .map(is_xml_char)
                .unwrap_or(false);
            if !legal {
                return Some(at);
            }
        }
        from = at + 2;
    }
    None
}

/// One start tag seen at a recorded depth (1 = the document element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) depth: usize,
    /// Namespace URI in effect for the element's prefix ("" when none).
    pub(crate) namespace: String,
    pub(crate) local_name: String,
}

/// Scans `input`, recording elements down to `record_depth`.
pub(crate) fn scan(input: &[u8], record_depth: usize) -> Result<Vec<Element>, ScanError> {
    if let Some(pos) = input.iter().position(|&b| b == 0) {
        return Err(ScanError::Nul(pos));
    }
    if let Some(pos) = illegal_char_ref(input) {
        return Err(ScanError::IllegalCharRef(pos));
    }
    let mut out = Vec::new();
    // One frame per open element: its namespace declarations (prefix, uri);
    // "" is the default namespace.
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
    let mut i = 0;
    let n = input.len();
    while i < n {
        if input[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &input[i..];
        if rest.starts_with(b"<!--") {
            i = skip_past(input, i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(input, i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_past(input, i + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            // DOCTYPE and friends: libyang refuses them; just step over.
            i = skip_past(input, i + 2, b">");
        } else if rest.starts_with(b"</") {
            scopes.pop();
            i = skip_past(input, i + 2, b">");
        } else {
            let Some(tag) = parse_start_tag(input, i + 1) else {
                // Unterminated tag: libyang will say what is wrong.
                break;
            };
            let depth = scopes.len() + 1;
            if depth > MAX_DEPTH {
                return Err(ScanError::TooDeep(depth));
            }
            if depth <= record_depth {
                let (prefix, local) = match tag.name.split_once(':') {
                    Some((p, l)) => (p, l),
                    None => ("", tag.name.as_str()),
                };
                let namespace = tag
                    .ns_decls
                    .iter()
                    .rev()
                    .chain(scopes.iter().rev().flat_map(|s| s.iter().rev()))
                    .find(|(p, _)| p == prefix)
                    .map(|(_, u)| u.clone())
                    .unwrap_or_default();
                out.push(Element {
                    depth,
                    namespace,
                    local_name: local.to_owned(),
                });
            }
            if !tag.self_closing {
                scopes.push(tag.ns_decls);
            }
            i = tag.end;
        }
    }
    Ok(out)
}

/// XML declarations accepted before a plain `<rpc>` (byte for byte).
const PLAIN_DECLS: [&[u8]; 3] = [
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    b"<?xml version=\"1.0\" encoding=\"utf-8\"?>",
    b"<?xml version=\"1.0\"?>",
];

/// At most this many attributes on a plain `<rpc>` start tag.
const PLAIN_RPC_ATTRS: usize = 8;

type Span = std::ops::Range<usize>;

/// A request in the plain shape [`plain_rpc`] describes, as positions in
/// its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainRpc {
    attrs: [(Span, Span); PLAIN_RPC_ATTRS],
    attr_count: usize,
    /// The operation element, from its `<` to the end of its end tag.
    pub(crate) op: Span,
    /// The operation's (unprefixed) name.
    pub(crate) op_name: Span,
    /// The operation's namespace: the value of its own `xmlns`.
    pub(crate) op_ns: Span,
}

impl PlainRpc {
    /// The `<rpc>` start tag's attributes, (name, value) as written (no
    /// prefix, no `&`, no `<` in them), in document order.
    pub(crate) fn attrs(&self) -> &[(Span, Span)] {
        &self.attrs[..self.attr_count]
    }
}

/// The request, when it has the plain shape below; `None` when it is
/// anything else (the caller then takes the full path, which makes every
/// check and every error answer).
///
/// Plain means: UTF-8; an optional XML declaration of [`PLAIN_DECLS`],
/// then `<rpc>` (unprefixed) declaring exactly `xmlns="base_ns"` and no
/// prefix, with distinct unprefixed attributes (names of ASCII letters,
/// digits, `-`, `.`, `_`) whose values hold no `&` or `<`; inside it only
/// whitespace around one operation element; then `</rpc>` and whitespace.
/// The operation element declares its own default namespace, so nothing
/// inside it depends on the envelope. In the operation element and below,
/// every name is unprefixed and made of the same characters, no attribute
/// other than a default-namespace declaration (without `&`), every end tag
/// names its start tag, and `&` starts one of XML's five predefined entity
/// references (XML 1.0 §4.6). Only characters XML allows (§2.2: no NUL,
/// no other control but tab, LF and CR), no character reference, no comment,
/// CDATA, processing instruction or DOCTYPE anywhere, and no nesting
/// deeper than [`MAX_DEPTH`].
///
/// Those rules make the envelope well-formed XML 1.0 with namespaces by
/// themselves (the operation's content is judged by libyang's parser,
/// which refuses at least what they leave open, such as an illegal name
/// start), and make the checks [`scan`] makes before libyang hold by
/// construction. Nothing is allocated.
pub(crate) fn plain_rpc(input: &[u8], base_ns: &[u8]) -> Option<PlainRpc> {
    if !xml_chars_only(input) || std::str::from_utf8(input).is_err() {
        return None;
    }
    let mut i = PLAIN_DECLS
        .iter()
        .find(|d| input.starts_with(d))
        .map_or(0, |d| d.len());
    i = skip_space(input, i);
    if input.get(i) != Some(&b'<') {
        return None;
    }
    let rpc = lean_tag(input, i + 1)?;
    if &input[rpc.name.clone()] != b"rpc"
        || rpc.self_closing
        || rpc.odd
        || rpc.duplicate_attr
        || rpc.default_ns.clone().map(|r| &input[r]) != Some(base_ns)
    {
        return None;
    }
    let op_start = skip_space(input, rpc.end);
    if input.get(op_start) != Some(&b'<') {
        return None;
    }
    // The operation's name and namespace; `walk_element` checks its tag.
    let op = lean_tag(input, op_start + 1)?;
    let op_ns = op.default_ns.clone()?;
    // The open elements below <rpc>, checked against their end tags.
    let mut open: [&[u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
    let mut depth = 0;
    let op_end = walk_element(input, op_start, |piece| match piece {
        Piece::Text(t) => plain_text(t),
        Piece::Start { name, empty, .. } => {
            if !empty {
                // rpc (1) + operation (1) + depth below it.
                if depth + 2 > MAX_DEPTH {
                    return false;
                }
                open[depth] = name;
                depth += 1;
            }
            true
        }
        Piece::End(name) => {
            let Some(d) = depth.checked_sub(1) else {
                return false;
            };
            depth = d;
            open[d] == name
        }
    })?;
    let mut k = skip_space(input, op_end);
    if !input.get(k..)?.starts_with(b"</rpc") {
        return None;
    }
    k = skip_space(input, k + 5);
    if input.get(k) != Some(&b'>') || skip_space(input, k + 1) != input.len() {
        return None;
    }
    Some(PlainRpc {
        attrs: rpc.attrs,
        attr_count: rpc.attr_count,
        op: op_start..op_end,
        op_name: op.name,
        op_ns,
    })
}

/// No byte that starts a character XML 1.0 §2.2 does not allow: the
/// controls other than tab, LF and CR (NUL among them), U+FFFE, U+FFFF
/// (UTF-8 EF BF BE / EF BF BF). Surrogates are not UTF-8.
fn xml_chars_only(input: &[u8]) -> bool {
    // Every byte is looked at, without stopping early, so that the loop
    // is vectorised: this runs on every plain request.
    let controls = input.iter().fold(false, |bad, &b| {
        bad | (b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r')
    });
    !controls
        && memchr::memchr_iter(0xEF, input)
            .all(|i| !matches!(input.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])))
}

/// One step of the operation element of a plain request, in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// A start tag: the element's name and its own `xmlns` value, if any;
    /// `empty` for `<name/>` (no `End` follows).
    Start {
        name: &'a [u8],
        ns: Option<&'a [u8]>,
        empty: bool,
    },
    /// Character data as written (entity references not yet replaced).
    Text(&'a [u8]),
    /// An end tag and the name it gives.
    End(&'a [u8]),
}

/// Walks the operation element of a request [`plain_rpc`] accepted (its
/// `op` range), handing each piece to `f` until `f` says stop (`false`).
/// Returns whether the walk reached the end; `false` also on anything that
/// is not in the plain shape (the caller then takes another way).
pub(crate) fn plain_pieces<'a>(op: &'a [u8], f: impl FnMut(Piece<'a>) -> bool) -> bool {
    walk_element(op, 0, f) == Some(op.len())
}

/// Walks the element whose `<` is at `input[start]`, handing each piece to
/// `f`, up to that element's end tag; the index just past it. `None` when
/// `f` says stop (`false`) or a tag is not in the plain shape (a prefix,
/// an attribute other than `xmlns`, one given twice, other name
/// characters, a comment, CDATA or processing instruction, an end tag not
/// closed by `>`); text and end-tag names are `f`'s to judge.
fn walk_element<'a>(
    input: &'a [u8],
    start: usize,
    mut f: impl FnMut(Piece<'a>) -> bool,
) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = start;
    loop {
        let lt = j + input.get(j..)?.iter().position(|b| *b == b'<')?;
        if lt > j && !f(Piece::Text(&input[j..lt])) {
            return None;
        }
        if input.get(lt + 1)? == &b'/' {
            let name_start = lt + 2;
            let name_end = name_start
                + input
                    .get(name_start..)?
                    .iter()
                    .position(|b| !is_name_char(*b))?;
            let close = skip_space(input, name_end);
            if depth == 0 || input.get(close) != Some(&b'>') {
                return None;
            }
            if !f(Piece::End(&input[name_start..name_end])) {
                return None;
            }
            depth -= 1;
            j = close + 1;
        } else {
            let tag = lean_tag(input, lt + 1)?;
            if tag.odd || tag.other_attr || tag.duplicate_attr {
                return None;
            }
            let piece = Piece::Start {
                name: &input[tag.name.clone()],
                ns: tag.default_ns.map(|r| &input[r]),
                empty: tag.self_closing,
            };
            if !f(piece) {
                return None;
            }
            depth += usize::from(!tag.self_closing);
            j = tag.end;
        }
        if depth == 0 {
            return Some(j);
        }
    }
}

/// Appends character data of the plain shape to `out` with its entity
/// references replaced (only XML's five predefined ones occur there).
pub(crate) fn unescape_plain(text: &[u8], out: &mut Vec<u8>) {
    let mut rest = text;
    while let Some(p) = rest.iter().position(|b| *b == b'&') {
        out.extend_from_slice(&rest[..p]);
        rest = &rest[p + 1..];
        match ENTITY_REFS.iter().find(|(r, _)| rest.starts_with(r)) {
            Some((r, c)) => {
                out.push(*c);
                rest = &rest[r.len()..];
            }
            // Not in the plain shape; kept as written.
            None => out.push(b'&'),
        }
    }
    out.extend_from_slice(rest);
}

/// XML's five predefined entity references (XML 1.0 §4.6), after the `&`,
/// and the character each stands for.
const ENTITY_REFS: [(&[u8], u8); 5] = [
    (b"lt;", b'<'),
    (b"gt;", b'>'),
    (b"amp;", b'&'),
    (b"apos;", b'\''),
    (b"quot;", b'"'),
];

/// Character data of the plain shape: `&` only as one of the five
/// predefined entity references (no character references, no others), and
/// no `]]>` (XML 1.0 §2.4).
fn plain_text(text: &[u8]) -> bool {
    if text.windows(3).any(|w| w == b"]]>") {
        return false;
    }
    let mut rest = text;
    while let Some(p) = rest.iter().position(|b| *b == b'&') {
        rest = &rest[p + 1..];
        let Some((r, _)) = ENTITY_REFS.iter().find(|(r, _)| rest.starts_with(r)) else {
            return false;
        };
        rest = &rest[r.len()..];
    }
    true
}

fn skip_space(input: &[u8], mut i: usize) -> usize {
    while input.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

/// The characters of a name in the plain shape (YANG identifiers are made
/// of them, RFC 7950 §6.2), always legal in an XML name.
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Whether `name` is a name of the plain shape: [`is_name_char`]s, starting
/// with a letter or `_` (XML 1.0 §2.3 NameStartChar).
fn is_plain_name(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && name.iter().all(|b| is_name_char(*b))
}

/// A start tag read without allocating: what [`plain_rpc`] asks.
struct LeanTag {
    name: Span,
    /// The value of an `xmlns="..."` attribute.
    default_ns: Option<Span>,
    /// Outside the plain shape: a prefixed name (element or attribute, an
    /// `xmlns:p` declaration among them), a name of other characters, or a
    /// value with `&`.
    odd: bool,
    /// An attribute other than `xmlns`.
    other_attr: bool,
    /// The same attribute name twice, or more than [`PLAIN_RPC_ATTRS`].
    duplicate_attr: bool,
    self_closing: bool,
    /// The attributes, (name, value), in document order.
    attrs: [(Span, Span); PLAIN_RPC_ATTRS],
    attr_count: usize,
    /// Index just past the closing `>`.
    end: usize,
}

/// Reads `name attr="v" ... >` starting just after `<`; `None` on anything
/// it does not follow (the full path then decides).
fn lean_tag(input: &[u8], mut i: usize) -> Option<LeanTag> {
    let n = input.len();
    let start = i;
    while i < n && !is_space(input[i]) && input[i] != b'>' && input[i] != b'/' {
        i += 1;
    }
    let mut tag = LeanTag {
        name: start..i,
        default_ns: None,
        odd: !is_plain_name(&input[start..i]),
        other_attr: false,
        duplicate_attr: false,
        self_closing: false,
        attrs: [const { (0..0, 0..0) }; PLAIN_RPC_ATTRS],
        attr_count: 0,
        end: 0,
    };
    loop {
        let before = i;
        i = skip_space(input, i);
        match input.get(i)? {
            b'>' => {
                tag.end = i + 1;
                return Some(tag);
            }
            b'/' => {
                if input.get(i + 1) != Some(&b'>') {
                    return None;
                }
                tag.self_closing = true;
                tag.end = i + 2;
                return Some(tag);
            }
            // XML 1.0 §3.1: attributes are separated by whitespace.
            _ if i == before => return None,
            _ => {}
        }
        let astart = i;
        while i < n && input[i] != b'=' && !is_space(input[i]) && input[i] != b'>' {
            i += 1;
        }
        let aname = astart..i;
        i = skip_space(input, i);
        if input.get(i) != Some(&b'=') {
            return None;
        }
        i = skip_space(input, i + 1);
        let quote = *input.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let vstart = i + 1;
        let vend = vstart + input.get(vstart..)?.iter().position(|b| *b == quote)?;
        let value = &input[vstart..vend];
        i = vend + 1;
        if value.contains(&b'<') {
            return None;
        }
        tag.odd |= value.contains(&b'&') || !is_plain_name(&input[aname.clone()]);
        if &input[aname.clone()] == b"xmlns" {
            tag.default_ns = Some(vstart..vend);
        } else {
            tag.other_attr = true;
        }
        let seen = &tag.attrs[..tag.attr_count];
        if tag.attr_count == PLAIN_RPC_ATTRS
            || seen
                .iter()
                .any(|(r, _)| input[r.clone()] == input[aname.clone()])
        {
            tag.duplicate_attr = true;
        } else {
            tag.attrs[tag.attr_count] = (aname, vstart..vend);
            tag.attr_count += 1;
        }
    }
}

/// Index just past the first `pat` at or after `from`, or the end of input.
fn skip_past(input: &[u8], from: usize, pat: &[u8]) -> usize {
    if from >= input.len() {
        return input.len();
    }
    input[from..]
        .windows(pat.len())
        .position(|w| w == pat)
        .map_or(input.len(), |p| from + p + pat.len())
}

struct StartTag {
    name: String,
    ns_decls: Vec<(String, String)>,
    self_closing: bool,
    /// Index just past the closing `>`.
    end: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Parses `name attr="v" ... >` starting just after `<`.
fn parse_start_tag(input: &[u8], mut i: usize) -> Option<StartTag> {
    let n = input.len();
    let start = i;
    while i < n && !is_space(input[i]) && input[i] != b'>' && input[i] != b'/' {
        i += 1;
    }
    let name = String::from_utf8_lossy(&input[start..i]).into_owned();
    let mut ns_decls = Vec::new();
    loop {
        while i < n && is_space(input[i]) {
            i += 1;
        }
        match input.get(i)? {
            b'>' => {
                return Some(StartTag {
                    name,
                    ns_decls,
                    self_closing: false,
                    end: i + 1,
                });
            }
            b'/' => {
                if input.get(i + 1) == Some(&b'>') {
                    return Some(StartTag {
                        name,
                        ns_decls,
                        self_closing: true,
                        end: i + 2,
                    });
                }
                return None;
            }
            _ => {}
        }
        let astart = i;
        while i < n && input[i] != b'=' && !is_space(input[i]) && input[i] != b'>' {
            i += 1;
        }
        let aname = String::from_utf8_lossy(&input[astart..i]).into_owned();
        while i < n && is_space(input[i]) {
            i += 1;
        }
        if input.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        while i < n && is_space(input[i]) {
            i += 1;
        }
        let quote = *input.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        i += 1;
        let vstart = i;
        while i < n && input[i] != quote {
            i += 1;
        }
        if i >= n {
            return None;
        }
        let value = unescape(&String::from_utf8_lossy(&input[vstart..i]));
        i += 1;
        if aname == "xmlns" {
            ns_decls.push((String::new(), value));
        } else if let Some(p) = aname.strip_prefix("xmlns:") {
            ns_decls.push((p.to_owned(), value));
        }
    }
}

/// The five predefined entities and character references (XML 1.0 §4.6, §4.1).
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let Some(semi) = after.find(';') else {
            out.push_str(&rest[p..]);
            return out;
        };
        let ent = &after[..semi];
        let rep = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match rep {
            Some(c) => out.push(c),
            None => {
                out.push('&');
                out.push_str(ent);
                out.push(';');
            }
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn records_levels_with_namespaces() {
        let xml = br#"<?xml version="1.0"?><!-- c --><nc:rpc xmlns:nc="urn:base" message-id="1">
            <op xmlns="urn:a" x='1'><b/><p:c xmlns:p="urn:&amp;c">t</p:c><d><deep/></d></op></nc:rpc>"#;
        let els = scan(xml, 3).expect("scans");
        let got: Vec<_> = els
            .iter()
            .map(|e| (e.depth, e.namespace.as_str(), e.local_name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "urn:base", "rpc"),
                (2, "urn:a", "op"),
                (3, "urn:a", "b"),
                (3, "urn:&c", "c"),
                (3, "urn:a", "d"),
            ]
        );
    }

    #[test]
    fn rejects_nul_and_depth_without_recursion() {
        assert_eq!(scan(b"<a>\0</a>", 3), Err(ScanError::Nul(3)));
        assert_eq!(
            scan(b"<a x=\"u&#0;v\"/>", 3),
            Err(ScanError::IllegalCharRef(7))
        );
        assert_eq!(scan(b"<a>&#x0;</a>", 3), Err(ScanError::IllegalCharRef(3)));
        assert_eq!(scan(b"<a>&#1;</a>", 3), Err(ScanError::IllegalCharRef(3)));
        assert!(scan(b"<a>&#65;&#x263A;&#10;</a>", 3).is_ok());
        let deep = "<a>".repeat(100_000);
        assert_eq!(
            scan(deep.as_bytes(), 3),
            Err(ScanError::TooDeep(MAX_DEPTH + 1))
        );
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(scan(ok.as_bytes(), 3).is_ok());
    }

    #[test]
    fn plain_pieces_in_document_order() {
        let op = br#"<op xmlns="urn:x"> <a>1 &amp;&lt;2</a><b/><c xmlns="urn:y"><d>t</d></c></op>"#;
        let mut got = Vec::new();
        assert!(plain_pieces(op, |p| {
            got.push(p);
            true
        }));
        let start = |name: &'static [u8], ns: Option<&'static [u8]>, empty| Piece::Start {
            name,
            ns,
            empty,
        };
        assert_eq!(
            got,
            vec![
                start(b"op", Some(b"urn:x"), false),
                Piece::Text(b" "),
                start(b"a", None, false),
                Piece::Text(b"1 &amp;&lt;2"),
                Piece::End(b"a"),
                start(b"b", None, true),
                start(b"c", Some(b"urn:y"), false),
                start(b"d", None, false),
                Piece::Text(b"t"),
                Piece::End(b"d"),
                Piece::End(b"c"),
                Piece::End(b"op"),
            ]
        );
        // Stopping early is reported.
        assert!(!plain_pieces(op, |p| !matches!(p, Piece::End(_))));
        let mut out = Vec::new();
        unescape_plain(b"a&amp;b&lt;&gt;&apos;&quot;&x", &mut out);
        assert_eq!(out, b"a&b<>'\"&x");
    }

    #[test]
    fn stops_quietly_on_broken_input() {
        assert!(scan(b"<a x=", 3).is_ok());
        assert!(scan(b"<a><b", 3).is_ok());
        assert!(scan(b"</a></b><c>", 3).is_ok());
    }
}
