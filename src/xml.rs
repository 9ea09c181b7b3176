//! XML text escaping, shared by every layer that writes XML (NETCONF
//! replies, rpc-errors, the schema's `<schemas>` and `<modules-state>`), so
//! that none of them needs another's module for it.

use std::fmt;

/// Escapes `<`, `>`, `&`, `"` and `'` (XML 1.0 §2.4) in element content
/// and attribute values.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_into(self.0, |piece| f.write_str(piece))
    }
}

/// Appends `text` escaped as [`Escaped`] does, without the formatting
/// machinery (the per-reply paths).
pub fn push_escaped(out: &mut String, text: &str) {
    let _ = escape_into(text, |piece| {
        out.push_str(piece);
        Ok(())
    });
}

fn escape_into(text: &str, mut put: impl FnMut(&str) -> fmt::Result) -> fmt::Result {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        // The five markup characters are ASCII, so a byte index is a
        // character boundary here.
        let rep = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => continue,
        };
        put(&text[last..i])?;
        put(rep)?;
        last = i + 1;
    }
    put(&text[last..])
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn push_escaped_matches_display() {
        for t in ["", "plain", "a<b>&\"'c", "é<ü>€&", "&&&", "x\"y'z"] {
            let mut s = String::from("pre:");
            super::push_escaped(&mut s, t);
            assert_eq!(s, format!("pre:{}", Escaped(t)));
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            Escaped("a<b>&\"'c").to_string(),
            "a&lt;b&gt;&amp;&quot;&apos;c"
        );
    }
}
