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

/// Where the operation element lies in a request whose envelope can be left
/// out of libyang's parse without changing what it means; `None` when the
/// request is anything else (the caller then takes the full path, which
/// makes every check and every error answer).
///
/// Plain means: an optional XML declaration of [`PLAIN_DECLS`], then
/// `<rpc>` (unprefixed) declaring exactly `xmlns="base_ns"` and no prefix,
/// with unprefixed, distinct attributes whose values hold no `&` or `<`;
/// inside it only whitespace around one operation element that declares
/// its own default namespace (so nothing inside it depends on the
/// envelope's declarations); then `</rpc>` and whitespace. No NUL, no
/// character reference, no comment, CDATA, processing instruction or
/// DOCTYPE anywhere, and no nesting deeper than [`MAX_DEPTH`]: the checks
/// [`scan`] makes before libyang sees the bytes hold here by construction.
/// Nothing is allocated.
pub(crate) fn plain_operation(input: &[u8], base_ns: &[u8]) -> Option<std::ops::Range<usize>> {
    if input.contains(&0) || input.windows(2).any(|w| w == b"&#") {
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
        || rpc.prefix_decl
        || rpc.prefixed_attr
        || rpc.amp_in_value
        || rpc.duplicate_attr
        || rpc.default_ns.map(|r| &input[r]) != Some(base_ns)
    {
        return None;
    }
    let op_start = skip_space(input, rpc.end);
    if input.get(op_start) != Some(&b'<')
        || matches!(input.get(op_start + 1), Some(b'/' | b'!' | b'?'))
    {
        return None;
    }
    let op = lean_tag(input, op_start + 1)?;
    op.default_ns?;
    // Depth below the operation element; the <rpc> is one level above it.
    let mut depth = usize::from(!op.self_closing);
    let mut j = op.end;
    while depth > 0 {
        let lt = j + input.get(j..)?.iter().position(|b| *b == b'<')?;
        match input.get(lt + 1)? {
            b'!' | b'?' => return None,
            b'/' => {
                depth -= 1;
                j = lt + 2 + input.get(lt + 2..)?.iter().position(|b| *b == b'>')? + 1;
            }
            _ => {
                let tag = lean_tag(input, lt + 1)?;
                if !tag.self_closing {
                    depth += 1;
                    // rpc (1) + operation (1) + depth below it.
                    if depth + 1 > MAX_DEPTH {
                        return None;
                    }
                }
                j = tag.end;
            }
        }
    }
    let op_end = j;
    let mut k = skip_space(input, op_end);
    if !input.get(k..)?.starts_with(b"</rpc") {
        return None;
    }
    k = skip_space(input, k + 5);
    if input.get(k) != Some(&b'>') {
        return None;
    }
    if skip_space(input, k + 1) != input.len() {
        return None;
    }
    Some(op_start..op_end)
}

fn skip_space(input: &[u8], mut i: usize) -> usize {
    while input.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

/// A start tag read without allocating: what [`plain_operation`] asks.
struct LeanTag {
    name: std::ops::Range<usize>,
    /// The value of an `xmlns="..."` attribute.
    default_ns: Option<std::ops::Range<usize>>,
    /// An `xmlns:p` declaration.
    prefix_decl: bool,
    /// An attribute name with a `:` (other than `xmlns:`).
    prefixed_attr: bool,
    amp_in_value: bool,
    /// The same attribute name twice (among the first ones), or too many.
    duplicate_attr: bool,
    self_closing: bool,
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
    if i == start {
        return None;
    }
    let mut tag = LeanTag {
        name: start..i,
        default_ns: None,
        prefix_decl: false,
        prefixed_attr: false,
        amp_in_value: false,
        duplicate_attr: false,
        self_closing: false,
        end: 0,
    };
    let mut names: [std::ops::Range<usize>; PLAIN_RPC_ATTRS] = Default::default();
    let mut count = 0;
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
        let aname = &input[astart..i];
        if aname.is_empty() {
            return None;
        }
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
        tag.amp_in_value |= value.contains(&b'&');
        if aname == b"xmlns" {
            tag.default_ns = Some(vstart..vend);
        } else if aname.starts_with(b"xmlns:") {
            tag.prefix_decl = true;
        } else if aname.contains(&b':') {
            tag.prefixed_attr = true;
        }
        if count == PLAIN_RPC_ATTRS || names[..count].iter().any(|r| &input[r.clone()] == aname) {
            tag.duplicate_attr = true;
        } else {
            names[count] = astart..astart + aname.len();
            count += 1;
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
    fn stops_quietly_on_broken_input() {
        assert!(scan(b"<a x=", 3).is_ok());
        assert!(scan(b"<a><b", 3).is_ok());
        assert!(scan(b"</a></b><c>", 3).is_ok());
    }
}
