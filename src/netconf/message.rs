//! The only user of quick-xml: NETCONF messages in (`<hello>`, `<rpc>`) as a
//! small namespace-resolved element tree, and `<hello>` / `<rpc-reply>` out.
//!
//! Input is checked before anything else sees it: NUL bytes, DOCTYPE and
//! entity declarations are refused (no entity expansion, RFC 6241 §3 allows
//! none to be needed), and nesting depth is bounded so that a hostile document
//! cannot exhaust the stack.

use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::error::{BASE_NS, Escaped, ProtoOrApp, RpcError, RpcProtoOrApp};

/// Deepest element nesting accepted in a NETCONF message.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum XmlError {
    #[error("message contains a NUL byte")]
    NulByte,
    #[error("DOCTYPE and entity declarations are not allowed")]
    Doctype,
    #[error("elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("no root element")]
    NoRoot,
    #[error("content after the root element")]
    TrailingContent,
    #[error("unknown entity reference &{0};")]
    UnknownEntity(String),
    #[error("undeclared namespace prefix \"{0}\"")]
    UnknownPrefix(String),
    #[error("not well-formed XML: {0}")]
    Syntax(String),
}

impl From<XmlError> for RpcError {
    fn from(e: XmlError) -> Self {
        RpcError::malformed_message().with_message(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The name as written, with its prefix (`nc:message-id`, `xmlns:nc`).
    pub qname: String,
    /// The local name.
    pub name: String,
    /// The namespace, for prefixed attributes only (RFC: unprefixed
    /// attributes have no namespace).
    pub ns: Option<String>,
    /// The value, unescaped.
    pub value: String,
}

impl Attribute {
    pub fn is_namespace_declaration(&self) -> bool {
        self.qname == "xmlns" || self.qname.starts_with("xmlns:")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// The first child with this local name in this namespace.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.name == name && !a.is_namespace_declaration())
            .map(|a| a.value.as_str())
    }

    /// Writes the element, declaring its namespace where it differs from the parent's.
    pub fn write_xml(&self, out: &mut String, parent_ns: Option<&str>) {
        let _ = write!(out, "<{}", self.name);
        if self.ns.as_deref() != parent_ns {
            let _ = write!(
                out,
                " xmlns=\"{}\"",
                Escaped(self.ns.as_deref().unwrap_or(""))
            );
        }
        for a in self
            .attrs
            .iter()
            .filter(|a| a.ns.is_none() && !a.is_namespace_declaration())
        {
            let _ = write!(out, " {}=\"{}\"", a.name, Escaped(&a.value));
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        let _ = write!(out, "{}", Escaped(&self.text));
        for c in &self.children {
            c.write_xml(out, self.ns.as_deref());
        }
        let _ = write!(out, "</{}>", self.name);
    }

    pub fn to_xml(&self) -> String {
        let mut s = String::new();
        self.write_xml(&mut s, None);
        s
    }
}

/// A name or namespace of the document as a `String`. The document was
/// checked to be UTF-8 as a whole and quick-xml cuts it at markup, so the
/// check here succeeds (and is cheaper than `from_utf8_lossy`'s chunked
/// walk); the lossy copy is only a fallback.
fn owned(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Parses one XML document into an element tree.
pub fn parse_document(bytes: &[u8]) -> Result<Element, XmlError> {
    // Checked before the XML parser sees the text: a NUL byte is never legal
    // XML (XML 1.0 §2.2) and later layers (libyang) cannot represent it.
    if bytes.contains(&0) {
        return Err(XmlError::NulByte);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| XmlError::Syntax(e.to_string()))?;
    let mut reader = NsReader::from_str(text);
    let cfg = reader.config_mut();
    cfg.expand_empty_elements = true;
    cfg.check_end_names = true;
    cfg.check_comments = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => Some(owned(ns.into_inner())),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return Err(XmlError::UnknownPrefix(owned(&p)));
            }
        };
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let mut el = Element {
                    ns,
                    name: owned(start.local_name().into_inner()),
                    ..Default::default()
                };
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| XmlError::Syntax(e.to_string()))?;
                    let qname = owned(attr.key.into_inner());
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    let ans = match ans {
                        ResolveResult::Bound(ns) => Some(owned(ns.into_inner())),
                        ResolveResult::Unbound => None,
                        ResolveResult::Unknown(p) => {
                            return Err(XmlError::UnknownPrefix(owned(&p)));
                        }
                    };
                    let value = attr
                        .unescape_value()
                        .map_err(|e| XmlError::Syntax(e.to_string()))?
                        .into_owned();
                    el.attrs.push(Attribute {
                        name: owned(local.into_inner()),
                        ns: if qname.starts_with("xmlns") {
                            None
                        } else {
                            ans
                        },
                        qname,
                        value,
                    });
                }
                stack.push(el);
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(XmlError::Syntax("unmatched end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| XmlError::Syntax(e.to_string()))?;
                push_text(&mut stack, &s, root.is_some())?;
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| XmlError::Syntax(e.to_string()))?;
                push_text(&mut stack, &s, root.is_some())?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = owned(&r);
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => return Err(XmlError::UnknownEntity(name)),
                        }
                    }
                    Err(e) => return Err(XmlError::Syntax(e.to_string())),
                };
                push_text(&mut stack, &c, root.is_some())?;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Empty(_) => {
                return Err(XmlError::Syntax("unexpected empty element event".into()));
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax("unclosed element".into()));
    }
    root.ok_or(XmlError::NoRoot)
}

fn push_text(stack: &mut [Element], s: &str, after_root: bool) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None if after_root => Err(XmlError::TrailingContent),
        None => Err(XmlError::Syntax("text outside the root element".into())),
    }
}

/// A peer's `<hello>` (RFC 6241 §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub capabilities: Vec<String>,
    pub session_id: Option<String>,
}

pub fn parse_hello(bytes: &[u8]) -> Result<Hello, String> {
    let root = parse_document(bytes).map_err(|e| e.to_string())?;
    if !root.is(BASE_NS, "hello") {
        return Err(format!(
            "expected <hello> in {BASE_NS}, got <{}>",
            root.name
        ));
    }
    let capabilities = root
        .child(BASE_NS, "capabilities")
        .map(|c| {
            c.children
                .iter()
                .filter(|c| c.is(BASE_NS, "capability"))
                .map(|c| c.text.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let session_id = root
        .child(BASE_NS, "session-id")
        .map(|s| s.text.trim().to_owned());
    Ok(Hello {
        capabilities,
        session_id,
    })
}

/// The server's `<hello>`.
pub fn server_hello(capabilities: &[String], session_id: u32) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hello xmlns=\"{BASE_NS}\"><capabilities>"
    );
    for cap in capabilities {
        let _ = write!(s, "<capability>{}</capability>", Escaped(cap));
    }
    let _ = write!(
        s,
        "</capabilities><session-id>{session_id}</session-id></hello>"
    );
    s
}

/// One `<rpc>` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    /// Every attribute of `<rpc>`, echoed on the reply (RFC 6241 §4.2).
    pub attrs: Vec<Attribute>,
    pub message_id: Option<String>,
    /// The operation element (the only child of `<rpc>`).
    pub op: Element,
}

/// A message that could not be taken as an `<rpc>`: the error to answer, and
/// the attributes that could be recovered for the reply.
#[derive(Debug, Clone)]
pub struct RejectedRpc {
    pub attrs: Vec<Attribute>,
    pub error: RpcError,
}

pub fn parse_rpc(bytes: &[u8]) -> Result<Rpc, Box<RejectedRpc>> {
    let reject = |attrs: Vec<Attribute>, error: RpcError| Box::new(RejectedRpc { attrs, error });
    let root = parse_document(bytes).map_err(|e| reject(Vec::new(), e.into()))?;
    if root.name != "rpc" || root.ns.as_deref() != Some(BASE_NS) {
        let err = if root.name == "rpc" {
            // RFC 6241 Appendix A: unknown-namespace is a protocol or
            // application error; the envelope is the protocol's.
            RpcError::unknown_namespace(ProtoOrApp::Protocol)
                .with_message("<rpc> must be in the NETCONF base namespace")
                .with_bad_element("rpc")
                .with_info("bad-namespace", root.ns.clone().unwrap_or_default())
        } else {
            RpcError::malformed_message()
                .with_message(format!("expected <rpc>, got <{}>", root.name))
        };
        return Err(reject(Vec::new(), err));
    }
    let Element {
        attrs, children, ..
    } = root;
    let message_id = attrs
        .iter()
        .find(|a| a.ns.is_none() && a.name == "message-id" && !a.is_namespace_declaration())
        .map(|a| a.value.clone());
    // RFC 6241 §4.1: message-id is mandatory; answer missing-attribute.
    if message_id.is_none() {
        let err = RpcError::missing_attribute(RpcProtoOrApp::Rpc)
            .with_message("<rpc> has no message-id attribute")
            .with_info("bad-attribute", "message-id")
            .with_bad_element("rpc");
        return Err(reject(attrs, err));
    }
    let mut children = children.into_iter();
    let Some(op) = children.next() else {
        // RFC 6241 Appendix A: missing-element and bad-element are protocol
        // or application errors, never rpc.
        let err = RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message("<rpc> contains no operation")
            .with_bad_element("rpc");
        return Err(reject(attrs, err));
    };
    if let Some(extra) = children.next() {
        let err = RpcError::bad_element(ProtoOrApp::Protocol)
            .with_message("<rpc> contains more than one operation")
            .with_bad_element(extra.name);
        return Err(reject(attrs, err));
    }
    Ok(Rpc {
        attrs,
        message_id,
        op,
    })
}

/// A request in the plain shape of [`crate::schema::plain_rpc`], read
/// without an XML parser.
#[derive(Debug, Clone)]
pub struct PlainRequest {
    /// The envelope as [`parse_rpc`] reads it, except that `op` carries the
    /// operation's name and namespace only (in the plain shape its only
    /// attribute is that namespace's declaration), not its content.
    pub rpc: Rpc,
    /// Where the operation element lies in the message.
    pub op: std::ops::Range<usize>,
}

/// The request read from the lean scan, when it has the plain shape and a
/// `message-id` (anything else is [`parse_rpc`]'s to read and answer).
/// The shape makes the envelope well-formed XML that [`parse_rpc`] reads
/// the same way, attributes included (no `&` in their values, so they are
/// taken as written); the operation's content is left to the application
/// (`Application::precheck`).
pub fn plain_rpc(bytes: &[u8]) -> Option<PlainRequest> {
    let plain = crate::schema::plain_rpc(bytes, BASE_NS.as_bytes())?;
    let text = |r: &std::ops::Range<usize>| std::str::from_utf8(bytes.get(r.clone())?).ok();
    let mut attrs = Vec::with_capacity(plain.attrs().len());
    let mut message_id = None;
    for (name, value) in plain.attrs() {
        let (name, value) = (text(name)?, text(value)?);
        if name == "message-id" {
            message_id = Some(value.to_owned());
        }
        attrs.push(Attribute {
            qname: name.to_owned(),
            name: name.to_owned(),
            ns: None,
            value: value.to_owned(),
        });
    }
    // RFC 6241 §4.1: without a message-id the request is refused, by
    // parse_rpc.
    message_id.as_ref()?;
    let op = Element {
        ns: Some(text(&plain.op_ns)?.to_owned()),
        name: text(&plain.op_name)?.to_owned(),
        ..Default::default()
    };
    Some(PlainRequest {
        rpc: Rpc {
            attrs,
            message_id,
            op,
        },
        op: plain.op,
    })
}

/// What an `<rpc-reply>` carries.
#[derive(Debug, Clone)]
pub enum ReplyBody {
    Ok,
    /// Already-serialised content (e.g. `<data>…</data>`).
    Xml(String),
    Errors(Vec<RpcError>),
}

/// Builds `<rpc-reply>`, echoing every attribute of the request (RFC 6241 §4.2)
/// except a default-namespace declaration, which the reply sets itself.
pub fn reply(attrs: &[Attribute], body: &ReplyBody) -> String {
    // Pushed piece by piece into one allocation of about the right size:
    // this runs once per reply.
    let body_len = match body {
        ReplyBody::Xml(x) => x.len(),
        _ => 16,
    };
    let attrs_len: usize = attrs
        .iter()
        .map(|a| a.qname.len() + a.value.len() + 4)
        .sum();
    let mut s = String::with_capacity(48 + BASE_NS.len() + attrs_len + body_len);
    s.push_str("<rpc-reply xmlns=\"");
    s.push_str(BASE_NS);
    s.push('"');
    for a in attrs.iter().filter(|a| a.qname != "xmlns") {
        s.push(' ');
        s.push_str(&a.qname);
        s.push_str("=\"");
        crate::xml::push_escaped(&mut s, &a.value);
        s.push('"');
    }
    s.push('>');
    match body {
        ReplyBody::Ok => s.push_str("<ok/>"),
        ReplyBody::Xml(x) => s.push_str(x),
        ReplyBody::Errors(errs) => {
            for e in errs {
                e.write_xml(&mut s);
            }
        }
    }
    s.push_str("</rpc-reply>");
    s
}

/// RFC 6241 §6: applies a subtree filter (the children of `<filter>`) to a list
/// of top-level nodes; returns the selected nodes. Data reads filter libyang
/// trees (`schema::read`); this one decides which events a subscription
/// (RFC 5277 §3.6) receives.
pub fn subtree_filter(data: &[Element], filter: &[Element]) -> Vec<Element> {
    let mut out = Vec::new();
    for d in data {
        for f in filter.iter().filter(|f| matches_name(f, d)) {
            if let Some(sel) = filter_node(f, d) {
                out.push(sel);
                break;
            }
        }
    }
    out
}

fn matches_name(f: &Element, d: &Element) -> bool {
    // RFC 6241 §6.2.1: a filter node without a namespace matches any namespace.
    f.name == d.name && (f.ns.is_none() || f.ns.as_deref() == Some("") || f.ns == d.ns)
}

fn is_content_match(f: &Element) -> bool {
    f.children.is_empty() && !f.text.trim().is_empty()
}

fn filter_node(f: &Element, d: &Element) -> Option<Element> {
    if f.children.is_empty() {
        // Selection node (§6.2.3) or a lone content match node (§6.2.5).
        if f.text.trim().is_empty() || f.text.trim() == d.text.trim() {
            return Some(d.clone());
        }
        return None;
    }
    let (content, others): (Vec<&Element>, Vec<&Element>) =
        f.children.iter().partition(|c| is_content_match(c));
    // §6.2.5: every content match node must match, else the parent is not selected.
    let mut kept = Vec::new();
    for c in &content {
        let m = d
            .children
            .iter()
            .find(|dc| matches_name(c, dc) && dc.text.trim() == c.text.trim())?;
        kept.push(m);
    }
    if others.is_empty() {
        // Only content match nodes: the whole sibling set is selected.
        return Some(d.clone());
    }
    let mut result = Element {
        ns: d.ns.clone(),
        name: d.name.clone(),
        attrs: d.attrs.clone(),
        children: Vec::new(),
        text: String::new(),
    };
    let mut selected_any = false;
    for dc in &d.children {
        if kept.iter().any(|k| std::ptr::eq(*k, dc)) {
            result.children.push(dc.clone());
            continue;
        }
        for o in others.iter().filter(|o| matches_name(o, dc)) {
            if let Some(x) = filter_node(o, dc) {
                result.children.push(x);
                selected_any = true;
                break;
            }
        }
    }
    (selected_any || !content.is_empty()).then_some(result)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The lean read of a plain request gives the envelope quick-xml gives,
    /// and leaves everything else to `parse_rpc`.
    #[test]
    fn plain_rpc_reads_the_envelope_as_parse_rpc() {
        let op = r#"<op xmlns="urn:x"><a>1 &amp; 2</a><b/></op>"#;
        let plain = [
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1">{op}</rpc>"#),
            format!(
                "<?xml version=\"1.0\"?>\n<rpc  message-id='a.b-c_d:1'\txmlns=\"{BASE_NS}\" \n x=\"y>z\" t=\"a\tb\nc\" u=\"\u{e9}\u{263a}\" e=\"\" >\n {op} \n</rpc >\n"
            ),
        ];
        for m in &plain {
            let lean = plain_rpc(m.as_bytes()).unwrap();
            let full = parse_rpc(m.as_bytes()).unwrap();
            assert_eq!(lean.rpc.attrs, full.attrs, "{m}");
            assert_eq!(lean.rpc.message_id, full.message_id, "{m}");
            assert_eq!(
                (&lean.rpc.op.ns, &lean.rpc.op.name),
                (&full.op.ns, &full.op.name),
                "{m}"
            );
            assert!(lean.rpc.op.attrs.is_empty() && lean.rpc.op.children.is_empty());
            assert_eq!(&m[lean.op], op);
        }
        let not_plain = [
            // No message-id: parse_rpc words the refusal.
            format!(r#"<rpc xmlns="{BASE_NS}">{op}</rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1" message-id="2">{op}</rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="a&amp;b">{op}</rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" xmlns:p="urn:p" message-id="1">{op}</rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" p:a="1" message-id="1">{op}</rpc>"#),
            format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"1\u{1}\">{op}</rpc>"),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1"><op><a/></op></rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1"><op xmlns="urn:x" a="1"/></rpc>"#),
            format!(
                r#"<rpc xmlns="{BASE_NS}" message-id="1"><op xmlns="urn:x"><a></b></op></rpc>"#
            ),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1"><op xmlns="urn:x">&#65;</op></rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1"><op xmlns="urn:x">a]]>b</op></rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1"><op xmlns="urn:x"><p:a/></op></rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1"><op xmlns="urn:x"><1a/></op></rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1">{op}{op}</rpc>"#),
            format!(r#"<rpc xmlns="urn:other" message-id="1">{op}</rpc>"#),
            format!(r#"<rpc xmlns="{BASE_NS}" message-id="1">{op}</rpc>x"#),
        ];
        for m in &not_plain {
            assert!(plain_rpc(m.as_bytes()).is_none(), "{m}");
        }
    }

    #[test]
    fn rpc_prefixed_and_default_namespace() {
        let r = parse_rpc(
            br#"<nc:rpc xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="7" xmlns:ex="urn:ex" ex:user="a&amp;b"><nc:get/></nc:rpc>"#,
        )
        .unwrap();
        assert_eq!(r.message_id.as_deref(), Some("7"));
        assert!(r.op.is(BASE_NS, "get"));
        let out = reply(&r.attrs, &ReplyBody::Ok);
        assert_eq!(
            out,
            "<rpc-reply xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" \
             xmlns:nc=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"7\" \
             xmlns:ex=\"urn:ex\" ex:user=\"a&amp;b\"><ok/></rpc-reply>"
        );
        let r = parse_rpc(
            br#"<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="x"><get-config><source><running/></source></get-config></rpc>"#,
        )
        .unwrap();
        assert!(
            r.op.child(BASE_NS, "source")
                .unwrap()
                .child(BASE_NS, "running")
                .is_some()
        );
    }

    #[test]
    fn rpc_missing_message_id_keeps_attributes() {
        let e = parse_rpc(
            br#"<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" a="1"><get/></rpc>"#,
        )
        .unwrap_err();
        assert_eq!(
            e.error.tag(),
            super::super::error::ErrorTag::MissingAttribute
        );
        assert_eq!(e.attrs.len(), 2);
    }

    #[test]
    fn hostile_input_rejected() {
        assert_eq!(parse_document(b"<a>\0</a>"), Err(XmlError::NulByte));
        assert_eq!(
            parse_document(b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"),
            Err(XmlError::Doctype)
        );
        assert!(matches!(
            parse_document(b"<a>&x;</a>"),
            Err(XmlError::UnknownEntity(_))
        ));
        let deep = "<a>".repeat(100_000);
        assert_eq!(parse_document(deep.as_bytes()), Err(XmlError::TooDeep));
        assert!(matches!(
            parse_document(b"<a></b>"),
            Err(XmlError::Syntax(_))
        ));
        assert!(matches!(
            parse_document(b"<p:a/>"),
            Err(XmlError::UnknownPrefix(_))
        ));
        assert_eq!(parse_document(b"<a/><b/>"), Err(XmlError::TrailingContent));
        assert_eq!(parse_document(b"  "), Err(XmlError::NoRoot));
        assert_eq!(parse_document(b"<a>&lt;&#65;</a>").unwrap().text, "<A");
    }

    #[test]
    fn subtree_filter_rfc6241_semantics() {
        let data = parse_document(
            br#"<top xmlns="urn:t"><users><user><name>fred</name><type>admin</type></user><user><name>bob</name><type>user</type></user></users><other/></top>"#,
        )
        .unwrap();
        // Containment + content match + selection (RFC 6241 §6.4.5-like).
        let filter = parse_document(
            br#"<top xmlns="urn:t"><users><user><name>fred</name><type/></user></users></top>"#,
        )
        .unwrap();
        let got = subtree_filter(std::slice::from_ref(&data), std::slice::from_ref(&filter));
        assert_eq!(
            got[0].to_xml(),
            r#"<top xmlns="urn:t"><users><user><name>fred</name><type>admin</type></user></users></top>"#
        );
        // Namespace mismatch selects nothing.
        let filter = parse_document(br#"<top xmlns="urn:other"/>"#).unwrap();
        assert!(subtree_filter(std::slice::from_ref(&data), &[filter]).is_empty());
        // Selection node: the whole subtree.
        let filter = parse_document(br#"<top xmlns="urn:t"/>"#).unwrap();
        assert_eq!(
            subtree_filter(std::slice::from_ref(&data), &[filter])[0],
            data
        );
    }
}
