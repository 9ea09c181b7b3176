//! NETCONF message framing over SSH (RFC 6242), as a pure codec: bytes in,
//! whole messages out, no I/O. Two framings:
//!
//! * end-of-message (`]]>]]>`, RFC 6242 §4.3), used for the `<hello>` and for
//!   sessions where either side speaks only base:1.0;
//! * chunked (RFC 6242 §4.2), used once both hellos advertised base:1.1.
//!
//! The codec starts in [`Framing::Hello`], which reads one message in either
//! framing (a client that sends its hello chunked is accepted) and is switched
//! by the session once the hellos are exchanged.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// RFC 6242 §4.3: the end-of-message delimiter.
pub const EOM: &[u8] = b"]]>]]>";

/// Largest chunk we accept and write. libnetconf2 caps chunks at 10 MiB;
/// we use the same cap so that one chunk can never exceed a message.
pub const DEFAULT_MAX_CHUNK: usize = 10 * 1024 * 1024;
/// Largest whole message (sum of its chunks) we accept.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// RFC 6242 §4.2: chunk-size is at most 4294967295, i.e. 10 decimal digits.
const MAX_CHUNK_DIGITS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("message exceeds the limit of {limit} bytes")]
    MessageTooBig { limit: usize },
    #[error("chunk of {size} bytes exceeds the limit of {limit} bytes")]
    ChunkTooBig { size: u64, limit: usize },
    #[error("bad chunk header: {0}")]
    BadChunkHeader(&'static str),
    #[error("connection closed inside a message")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The first message: end-of-message, or chunked if it starts with `\n#`.
    Hello,
    EndOfMessage,
    Chunked,
}

#[derive(Debug, Clone, Copy)]
pub struct FramingLimits {
    pub max_message: usize,
    pub max_chunk: usize,
}

impl Default for FramingLimits {
    fn default() -> Self {
        FramingLimits {
            max_message: DEFAULT_MAX_MESSAGE,
            max_chunk: DEFAULT_MAX_CHUNK,
        }
    }
}

#[derive(Debug)]
enum ChunkState {
    /// Expecting `\n#` then digits or `#`.
    Header,
    /// Inside chunk-data with this many bytes still to come.
    Data(usize),
}

/// The NETCONF codec: decodes messages as [`Bytes`], encodes `&[u8]` messages.
#[derive(Debug)]
pub struct NetconfCodec {
    framing: Framing,
    limits: FramingLimits,
    /// EOM: how far the buffer was already searched for the delimiter.
    scanned: usize,
    /// Chunked: the message assembled so far, and where we are in a chunk.
    message: BytesMut,
    chunk: ChunkState,
    /// The decoder of the message currently in progress (fixed by the hello).
    current: Option<Framing>,
}

impl NetconfCodec {
    pub fn new(limits: FramingLimits) -> Self {
        NetconfCodec {
            framing: Framing::Hello,
            limits,
            scanned: 0,
            message: BytesMut::new(),
            chunk: ChunkState::Header,
            current: None,
        }
    }

    /// Switches framing after the hello exchange (RFC 6242 §4.1: chunked only
    /// when both peers advertised base:1.1).
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    fn decode_eom(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        // Resume a few bytes back: the delimiter may straddle two reads.
        let start = self.scanned.saturating_sub(EOM.len() - 1);
        if let Some(pos) = find(&src[start..], EOM) {
            let end = start + pos;
            if end > self.limits.max_message {
                return Err(FramingError::MessageTooBig {
                    limit: self.limits.max_message,
                });
            }
            let msg = src.split_to(end).freeze();
            src.advance(EOM.len());
            self.scanned = 0;
            self.current = None;
            return Ok(Some(msg));
        }
        self.scanned = src.len();
        if src.len() > self.limits.max_message + EOM.len() {
            return Err(FramingError::MessageTooBig {
                limit: self.limits.max_message,
            });
        }
        Ok(None)
    }

    fn decode_chunked(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        loop {
            match self.chunk {
                ChunkState::Data(remaining) => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let n = remaining.min(src.len());
                    self.message.extend_from_slice(&src[..n]);
                    src.advance(n);
                    self.chunk = if n == remaining {
                        ChunkState::Header
                    } else {
                        ChunkState::Data(remaining - n)
                    };
                }
                ChunkState::Header => {
                    // RFC 6242 §4.2: chunk = LF HASH chunk-size LF chunk-data;
                    // end-of-chunks = LF HASH HASH LF.
                    if src.len() < 3 {
                        if !src.is_empty() && src[0] != b'\n' {
                            return Err(FramingError::BadChunkHeader("expected LF"));
                        }
                        if src.len() == 2 && src[1] != b'#' {
                            return Err(FramingError::BadChunkHeader("expected '#'"));
                        }
                        return Ok(None);
                    }
                    if src[0] != b'\n' {
                        return Err(FramingError::BadChunkHeader("expected LF"));
                    }
                    if src[1] != b'#' {
                        return Err(FramingError::BadChunkHeader("expected '#'"));
                    }
                    if src[2] == b'#' {
                        if src.len() < 4 {
                            return Ok(None);
                        }
                        if src[3] != b'\n' {
                            return Err(FramingError::BadChunkHeader(
                                "end-of-chunks not followed by LF",
                            ));
                        }
                        src.advance(4);
                        // RFC 6242 §4.2: chunked-message = 1*chunk end-of-chunks.
                        if self.message.is_empty() {
                            return Err(FramingError::BadChunkHeader(
                                "end-of-chunks without any chunk",
                            ));
                        }
                        self.current = None;
                        return Ok(Some(self.message.split().freeze()));
                    }
                    let digits = &src[2..];
                    let Some(lf) = digits.iter().position(|b| !b.is_ascii_digit()) else {
                        if digits.len() > MAX_CHUNK_DIGITS {
                            return Err(FramingError::BadChunkHeader("chunk-size too long"));
                        }
                        return Ok(None);
                    };
                    if digits[lf] != b'\n' {
                        return Err(FramingError::BadChunkHeader("chunk-size not a number"));
                    }
                    if lf == 0 {
                        return Err(FramingError::BadChunkHeader("empty chunk-size"));
                    }
                    if lf > MAX_CHUNK_DIGITS {
                        return Err(FramingError::BadChunkHeader("chunk-size too long"));
                    }
                    // RFC 6242 §4.2: chunk-size = 1*DIGIT1 0*DIGIT, so no
                    // leading zero and never 0.
                    if digits[0] == b'0' {
                        return Err(FramingError::BadChunkHeader(
                            "chunk-size is zero or has a leading zero",
                        ));
                    }
                    let size = digits[..lf]
                        .iter()
                        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
                    if size > u64::from(u32::MAX) {
                        return Err(FramingError::BadChunkHeader("chunk-size above 4294967295"));
                    }
                    if size > self.limits.max_chunk as u64 {
                        return Err(FramingError::ChunkTooBig {
                            size,
                            limit: self.limits.max_chunk,
                        });
                    }
                    let size = size as usize;
                    if self.message.len() + size > self.limits.max_message {
                        return Err(FramingError::MessageTooBig {
                            limit: self.limits.max_message,
                        });
                    }
                    src.advance(2 + lf + 1);
                    self.chunk = ChunkState::Data(size);
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // Every byte of a pipelined stream passes here once: a vectorised
    // search, not a compare per position.
    memchr::memmem::find(haystack, needle)
}

impl Decoder for NetconfCodec {
    type Item = Bytes;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        let framing = match (self.current, self.framing) {
            (Some(f), _) => f,
            (None, Framing::Hello) => {
                // The hello may come in either framing: decide on its first bytes.
                if src.len() < 2 {
                    return Ok(None);
                }
                if src.starts_with(b"\n#") {
                    Framing::Chunked
                } else {
                    Framing::EndOfMessage
                }
            }
            (None, f) => f,
        };
        if src.is_empty() {
            return Ok(None);
        }
        self.current = Some(framing);
        match framing {
            Framing::Chunked => self.decode_chunked(src),
            _ => self.decode_eom(src),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        match self.decode(src)? {
            Some(msg) => Ok(Some(msg)),
            None => {
                let partial = !self.message.is_empty()
                    || src.iter().any(|b| !b.is_ascii_whitespace())
                    || matches!(self.chunk, ChunkState::Data(_));
                src.clear();
                if partial {
                    Err(FramingError::Truncated)
                } else {
                    Ok(None)
                }
            }
        }
    }
}

impl Encoder<&[u8]> for NetconfCodec {
    type Error = FramingError;

    fn encode(&mut self, msg: &[u8], dst: &mut BytesMut) -> Result<(), FramingError> {
        match self.framing {
            Framing::Chunked => {
                dst.reserve(msg.len() + 32);
                for chunk in msg.chunks(self.limits.max_chunk.max(1)) {
                    dst.put_slice(format!("\n#{}\n", chunk.len()).as_bytes());
                    dst.put_slice(chunk);
                }
                dst.put_slice(b"\n##\n");
            }
            _ => {
                dst.reserve(msg.len() + EOM.len());
                dst.put_slice(msg);
                dst.put_slice(EOM);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn codec(framing: Framing) -> NetconfCodec {
        let mut c = NetconfCodec::new(FramingLimits {
            max_message: 64,
            max_chunk: 16,
        });
        c.set_framing(framing);
        c
    }

    fn decode_all(c: &mut NetconfCodec, input: &[u8]) -> Result<Vec<Bytes>, FramingError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(m) = c.decode(&mut buf)? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn eom_golden() {
        let mut c = codec(Framing::EndOfMessage);
        let got = decode_all(&mut c, b"<a/>]]>]]><b/>]]>]]><c").unwrap();
        assert_eq!(got, vec![Bytes::from("<a/>"), Bytes::from("<b/>")]);
        let mut out = BytesMut::new();
        c.encode(&b"<ok/>"[..], &mut out).unwrap();
        assert_eq!(&out[..], b"<ok/>]]>]]>");
    }

    #[test]
    fn eom_delimiter_split_across_reads() {
        let mut c = codec(Framing::EndOfMessage);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in b"<x/>]]>]]>" {
            buf.put_u8(*b);
            if let Some(m) = c.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![Bytes::from("<x/>")]);
    }

    #[test]
    fn eom_too_big() {
        let mut c = codec(Framing::EndOfMessage);
        let err = decode_all(&mut c, &[b'x'; 100]).unwrap_err();
        assert!(matches!(err, FramingError::MessageTooBig { limit: 64 }));
    }

    #[test]
    fn chunked_golden_rfc6242_example() {
        // RFC 6242 §4.2 example: a message split in two chunks.
        let mut c = codec(Framing::Chunked);
        let got = decode_all(&mut c, b"\n#4\n<rpc\n#5\n ok/>\n##\n").unwrap();
        assert_eq!(got, vec![Bytes::from("<rpc ok/>")]);
        let mut out = BytesMut::new();
        c.encode(&b"<ok/>"[..], &mut out).unwrap();
        assert_eq!(&out[..], b"\n#5\n<ok/>\n##\n");
    }

    #[test]
    fn chunked_encoder_splits_at_max_chunk() {
        let mut c = codec(Framing::Chunked);
        let mut out = BytesMut::new();
        c.encode(&[b'a'; 20][..], &mut out).unwrap();
        let mut expected = b"\n#16\n".to_vec();
        expected.extend_from_slice(&[b'a'; 16]);
        expected.extend_from_slice(b"\n#4\naaaa\n##\n");
        assert_eq!(&out[..], &expected[..]);
        assert_eq!(
            decode_all(&mut c, &out).unwrap(),
            vec![Bytes::from(vec![b'a'; 20])]
        );
    }

    #[test]
    fn chunked_many_chunks_byte_by_byte() {
        let mut input = Vec::new();
        for _ in 0..10 {
            input.extend_from_slice(b"\n#3\nabc");
        }
        input.extend_from_slice(b"\n##\n\n#1\nz\n##\n");
        let mut c = codec(Framing::Chunked);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &input {
            buf.put_u8(*b);
            while let Some(m) = c.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![Bytes::from("abc".repeat(10)), Bytes::from("z")]);
    }

    #[test]
    fn chunked_malformed_headers() {
        let cases: &[(&[u8], &str)] = &[
            (b"\n#0\n", "zero"),
            (b"\n#01\nx", "leading zero"),
            (b"\n#\n", "empty"),
            (b"\n#a\n", "not a number"),
            (b"\n#4294967296\n", "above 4294967295"),
            (b"\n#12345678901\n", "too long"),
            (b"#4\nabcd", "no LF"),
            (b"\nX4\nabcd", "no hash"),
            (b"\n#4 \nabcd", "space"),
            (b"\n##\n", "no chunk"),
            (b"\n##x", "end not followed by LF"),
            (b"\n#2\nab#", "garbage after chunk"),
        ];
        for (input, what) in cases {
            let mut c = codec(Framing::Chunked);
            let r = decode_all(&mut c, input);
            assert!(
                matches!(r, Err(FramingError::BadChunkHeader(_))),
                "{what}: {r:?}"
            );
        }
    }

    #[test]
    fn chunked_limits() {
        let mut c = codec(Framing::Chunked);
        assert!(matches!(
            decode_all(&mut c, b"\n#17\n"),
            Err(FramingError::ChunkTooBig {
                size: 17,
                limit: 16
            })
        ));
        let mut c = codec(Framing::Chunked);
        let mut input = Vec::new();
        for _ in 0..5 {
            input.extend_from_slice(b"\n#16\n0123456789abcdef");
        }
        assert!(matches!(
            decode_all(&mut c, &input),
            Err(FramingError::MessageTooBig { limit: 64 })
        ));
    }

    #[test]
    fn hello_in_either_framing() {
        let mut c = codec(Framing::Hello);
        assert_eq!(
            decode_all(&mut c, b"<hello/>]]>]]>").unwrap(),
            vec![Bytes::from("<hello/>")]
        );
        let mut c = codec(Framing::Hello);
        assert_eq!(
            decode_all(&mut c, b"\n#8\n<hello/>\n##\n").unwrap(),
            vec![Bytes::from("<hello/>")]
        );
    }

    #[test]
    fn eof_inside_message_is_truncation() {
        let mut c = codec(Framing::Chunked);
        let mut buf = BytesMut::from(&b"\n#4\nab"[..]);
        assert!(matches!(
            c.decode_eof(&mut buf),
            Err(FramingError::Truncated)
        ));
        let mut c = codec(Framing::EndOfMessage);
        let mut buf = BytesMut::from(&b"\n"[..]);
        assert!(c.decode_eof(&mut buf).unwrap().is_none());
    }
}
