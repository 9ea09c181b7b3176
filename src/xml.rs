//! XML text escaping, shared by every layer that writes XML (NETCONF
//! replies, rpc-errors, the schema's `<schemas>` and `<modules-state>`), so
//! that none of them needs another's module for it.

use std::fmt;

/// Escapes `<`, `>`, `&`, `"` and `'` (XML 1.0 §2.4) in element content
/// and attribute values.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '<' => "&lt;",
                '>' => "&gt;",
                '&' => "&amp;",
                '"' => "&quot;",
                '\'' => "&apos;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            Escaped("a<b>&\"'c").to_string(),
            "a&lt;b&gt;&amp;&quot;&apos;c"
        );
    }
}
