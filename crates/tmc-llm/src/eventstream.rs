//! AWS event-stream framing (`application/vnd.amazon.eventstream`), the binary envelope of
//! Bedrock's `ConverseStream`, and the assembly of a Converse stream into a [`ChatResponse`].
//!
//! Each message is a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes),
//! the headers, the payload and a CRC32 of everything before it. The body arrives in arbitrary
//! pieces, so [`Decoder`] buffers until a message is complete; like [`crate::sse`], the pieces
//! only drive the progress counter and the answer is assembled from the complete body, so a
//! streamed and a plain Converse call give the same [`ChatResponse`].
//!
//! The input is untrusted bytes from the network: every length is checked against what is
//! there and against [`MAX_MESSAGE_BYTES`] before anything is allocated or waited for, and a
//! bad checksum, an unknown header type or a cut-off message is an [`EventStreamError`], never
//! a panic.

use serde_json::Value;
use thiserror::Error;

use crate::error::LlmError;
use crate::provider::{ChatResponse, Usage};

/// The content type Bedrock answers `converse-stream` with.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";
/// Largest message accepted (the limit of AWS's own C decoder): a longer announced length is a
/// corrupt or hostile stream, refused before buffering it.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest header block accepted (also AWS's limit).
pub const MAX_HEADERS_BYTES: usize = 128 * 1024;

const PRELUDE_LEN: usize = 12;
/// Prelude plus message CRC: a message without headers and payload.
const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;

/// A header value; the type byte on the wire selects the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 (true) and 1 (false): no value bytes.
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6: u16 length, then bytes.
    Bytes(Vec<u8>),
    /// Type 7: u16 length, then UTF-8.
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    /// A string header's value (`:message-type`, `:event-type`, `:exception-type`, ...).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(k, v)| match v {
            HeaderValue::String(s) if k == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Why a stream could not be decoded. `index` counts messages from 0, so the error says where.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventStreamError {
    #[error(
        "event-stream message {index} announces {len} bytes, more than the {MAX_MESSAGE_BYTES}-byte limit"
    )]
    TooLarge { index: usize, len: usize },
    #[error(
        "event-stream message {index} announces {len} bytes, less than the {MIN_MESSAGE_LEN}-byte minimum"
    )]
    TooSmall { index: usize, len: usize },
    #[error(
        "event-stream message {index}: {headers} bytes of headers do not fit a {len}-byte message (or exceed {MAX_HEADERS_BYTES})"
    )]
    HeadersLength {
        index: usize,
        headers: usize,
        len: usize,
    },
    #[error(
        "event-stream message {index}: prelude checksum mismatch (sent {sent:08x}, computed {computed:08x})"
    )]
    PreludeCrc {
        index: usize,
        sent: u32,
        computed: u32,
    },
    #[error(
        "event-stream message {index}: message checksum mismatch (sent {sent:08x}, computed {computed:08x})"
    )]
    MessageCrc {
        index: usize,
        sent: u32,
        computed: u32,
    },
    #[error("event-stream message {index}: bad header: {reason}")]
    BadHeader { index: usize, reason: String },
    #[error(
        "the event stream ends inside message {index}: {have} of {need} bytes arrived (cut off?)"
    )]
    Truncated {
        index: usize,
        have: usize,
        need: usize,
    },
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

/// Checks a complete prelude (the first 12 bytes of `buf`) and returns the message's total
/// length. Done as soon as 12 bytes are there, so a corrupt length is refused at once instead
/// of waiting for (or buffering) bytes that will never make sense.
fn check_prelude(buf: &[u8], index: usize) -> Result<usize, EventStreamError> {
    let total = be_u32(buf, 0) as usize;
    let headers = be_u32(buf, 4) as usize;
    let sent = be_u32(buf, 8);
    let computed = crc32fast::hash(buf.get(..8).unwrap_or_default());
    if sent != computed {
        return Err(EventStreamError::PreludeCrc {
            index,
            sent,
            computed,
        });
    }
    if total > MAX_MESSAGE_BYTES {
        return Err(EventStreamError::TooLarge { index, len: total });
    }
    if total < MIN_MESSAGE_LEN {
        return Err(EventStreamError::TooSmall { index, len: total });
    }
    if headers > total - MIN_MESSAGE_LEN || headers > MAX_HEADERS_BYTES {
        return Err(EventStreamError::HeadersLength {
            index,
            headers,
            len: total,
        });
    }
    Ok(total)
}

/// Decodes one complete message of exactly `check_prelude`'s length.
fn decode_message(msg: &[u8], index: usize) -> Result<Message, EventStreamError> {
    let total = msg.len();
    let headers_len = be_u32(msg, 4) as usize;
    let sent = be_u32(msg, total - 4);
    let computed = crc32fast::hash(msg.get(..total - 4).unwrap_or_default());
    if sent != computed {
        return Err(EventStreamError::MessageCrc {
            index,
            sent,
            computed,
        });
    }
    let header_bytes = msg
        .get(PRELUDE_LEN..PRELUDE_LEN + headers_len)
        .unwrap_or_default();
    let headers = parse_headers(header_bytes)
        .map_err(|reason| EventStreamError::BadHeader { index, reason })?;
    let payload = msg
        .get(PRELUDE_LEN + headers_len..total - 4)
        .unwrap_or_default()
        .to_vec();
    Ok(Message { headers, payload })
}

/// A cursor that refuses to read past the end instead of panicking.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let s = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| {
                format!(
                    "{what} needs {n} bytes at offset {}, only {} left",
                    self.at,
                    self.bytes.len().saturating_sub(self.at)
                )
            })?;
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u16_prefixed(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = u16::from_be_bytes(self.array(what)?);
        self.take(usize::from(len), what)
    }
}

fn parse_headers(bytes: &[u8]) -> Result<Vec<(String, HeaderValue)>, String> {
    let mut c = Cursor { bytes, at: 0 };
    let mut out = Vec::new();
    while c.at < bytes.len() {
        let [name_len] = c.array::<1>("header name length")?;
        if name_len == 0 {
            return Err(format!("empty header name at offset {}", c.at - 1));
        }
        let name = std::str::from_utf8(c.take(usize::from(name_len), "header name")?)
            .map_err(|_| "header name is not UTF-8".to_string())?
            .to_string();
        let [kind] = c.array::<1>("header value type")?;
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(c.array(&name)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(c.array(&name)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(c.array(&name)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(c.array(&name)?)),
            6 => HeaderValue::Bytes(c.u16_prefixed(&name)?.to_vec()),
            7 => HeaderValue::String(
                std::str::from_utf8(c.u16_prefixed(&name)?)
                    .map_err(|_| format!("string header {name} is not UTF-8"))?
                    .to_string(),
            ),
            8 => HeaderValue::Timestamp(i64::from_be_bytes(c.array(&name)?)),
            9 => HeaderValue::Uuid(c.array(&name)?),
            other => return Err(format!("header {name} has unknown value type {other}")),
        };
        out.push((name, value));
    }
    Ok(out)
}

/// Incremental decoder: feed bytes as they arrive, get the messages they complete. After an
/// error the stream is out of step (lengths can no longer be trusted), so the error sticks and
/// later bytes are ignored; [`Decoder::finish`] reports it.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
    /// Messages decoded so far, for error positions.
    index: usize,
    failed: Option<EventStreamError>,
}

impl Decoder {
    /// Feeds bytes; returns the intact messages they complete, also those before a damaged one
    /// in the same read, so progress counts every piece that really arrived.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        if self.failed.is_some() {
            return out;
        }
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(rest) = self.pending.get(start..).filter(|r| r.len() >= PRELUDE_LEN) {
            let decoded = check_prelude(rest, self.index).and_then(|total| {
                rest.get(..total)
                    .map(|msg| decode_message(msg, self.index).map(|m| (m, total)))
                    .transpose()
            });
            match decoded {
                Ok(Some((m, total))) => {
                    out.push(m);
                    self.index += 1;
                    start += total;
                }
                // The rest of this message has not arrived yet.
                Ok(None) => break,
                Err(e) => {
                    self.failed = Some(e);
                    self.pending.clear();
                    return out;
                }
            }
        }
        self.pending.drain(..start);
        out
    }

    /// The error that stopped decoding, if any.
    pub fn error(&self) -> Option<&EventStreamError> {
        self.failed.as_ref()
    }

    /// Called at the end of the body: the error that stopped decoding, or, when bytes are left
    /// over, that the last message was cut off.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let need = if self.pending.len() < PRELUDE_LEN {
            PRELUDE_LEN
        } else {
            be_u32(&self.pending, 0) as usize
        };
        Err(EventStreamError::Truncated {
            index: self.index,
            have: self.pending.len(),
            need,
        })
    }
}

/// Decodes a complete body.
pub fn decode_all(body: &[u8]) -> Result<Vec<Message>, EventStreamError> {
    let mut d = Decoder::default();
    let messages = d.push(body);
    d.finish()?;
    Ok(messages)
}

/// True when the body starts with a valid event-stream prelude. Used besides the content type
/// because a proxy may rewrite that header; a matching CRC32 over the first 8 bytes is not an
/// accident, and a JSON body never has one.
pub fn starts_with_prelude(body: &[u8]) -> bool {
    body.len() >= MIN_MESSAGE_LEN && check_prelude(body, 0).is_ok()
}

/// The text a Converse `contentBlockDelta` event adds, for the progress counter.
pub fn delta_text(message: &Message) -> Option<String> {
    if message.header_str(":message-type") != Some("event")
        || message.header_str(":event-type") != Some("contentBlockDelta")
    {
        return None;
    }
    let v: Value = serde_json::from_slice(&message.payload).ok()?;
    v["delta"]["text"].as_str().map(str::to_string)
}

/// Bedrock exceptions worth another attempt: the ones that arrive as 429 or 5xx outside a
/// stream (throttling, overload, not yet loaded) plus `modelStreamErrorException`, which AWS
/// documents as "retry your request". Validation, access and timeout errors would fail again.
const RETRYABLE_EXCEPTIONS: &[&str] = &[
    "throttlingexception",
    "serviceunavailableexception",
    "internalserverexception",
    "modelnotreadyexception",
    "modelstreamerrorexception",
];

fn bedrock_protocol(message: impl Into<String>) -> LlmError {
    LlmError::Protocol {
        provider: "bedrock".into(),
        message: message.into(),
    }
}

fn payload_json(m: &Message, event: &str) -> Result<Value, LlmError> {
    serde_json::from_slice(&m.payload).map_err(|e| {
        bedrock_protocol(format!(
            "the payload of a {event} event is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&m.payload)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    })
}

/// Assembles a Converse stream: text from `contentBlockDelta`, the stop reason from
/// `messageStop`, tokens from `metadata`. An `exception` (or `error`) message becomes
/// [`LlmError::StreamException`]; a stream that ends before `messageStop` is refused, because
/// a connection cut exactly between two messages would otherwise pass as a short answer.
pub fn parse_converse_stream(body: &[u8]) -> Result<ChatResponse, LlmError> {
    let messages = decode_all(body).map_err(|e| bedrock_protocol(e.to_string()))?;
    let mut text = String::new();
    let mut stop_reason = None;
    let mut usage = Usage::default();
    let mut stopped = false;
    for m in &messages {
        match m.header_str(":message-type") {
            Some("event") => {}
            Some("exception") => {
                let exception = m
                    .header_str(":exception-type")
                    .unwrap_or("unknownException")
                    .to_string();
                let v: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                let message = v["message"]
                    .as_str()
                    .or_else(|| v["Message"].as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&m.payload).into_owned());
                let retryable =
                    RETRYABLE_EXCEPTIONS.contains(&exception.to_ascii_lowercase().as_str());
                return Err(LlmError::StreamException {
                    provider: "bedrock".into(),
                    exception,
                    message,
                    retryable,
                });
            }
            Some("error") => {
                return Err(LlmError::StreamException {
                    provider: "bedrock".into(),
                    exception: m.header_str(":error-code").unwrap_or("error").to_string(),
                    message: m
                        .header_str(":error-message")
                        .unwrap_or_default()
                        .to_string(),
                    retryable: false,
                });
            }
            other => {
                return Err(bedrock_protocol(format!(
                    "event-stream message without a known :message-type ({other:?})"
                )));
            }
        }
        match m.header_str(":event-type") {
            Some("contentBlockDelta") => {
                let v = payload_json(m, "contentBlockDelta")?;
                if let Some(t) = v["delta"]["text"].as_str() {
                    text.push_str(t);
                }
            }
            Some("messageStop") => {
                let v = payload_json(m, "messageStop")?;
                stop_reason = v["stopReason"].as_str().map(str::to_string);
                stopped = true;
            }
            Some("metadata") => {
                let v = payload_json(m, "metadata")?;
                let u = &v["usage"];
                usage = Usage {
                    input_tokens: u["inputTokens"].as_u64().unwrap_or(0),
                    output_tokens: u["outputTokens"].as_u64().unwrap_or(0),
                };
            }
            // messageStart, contentBlockStart/Stop and events added later carry nothing we use.
            _ => {}
        }
    }
    if !stopped {
        return Err(bedrock_protocol(format!(
            "the event stream ended after {} message(s) without messageStop (cut off?)",
            messages.len()
        )));
    }
    Ok(ChatResponse {
        text,
        usage,
        stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    /// The `payload_one_str_header` vector of AWS's event-stream test suite, written by AWS's
    /// encoder, so the layout and both checksums are checked against bytes we did not produce.
    const AWS_VECTOR: &str = "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1";

    /// A minimal encoder for the unit tests (the integration tests use their own, independent
    /// one with a bitwise CRC).
    fn frame(headers: &[u8], payload: &[u8]) -> Vec<u8> {
        let total = (MIN_MESSAGE_LEN + headers.len() + payload.len()) as u32;
        let mut b = total.to_be_bytes().to_vec();
        b.extend((headers.len() as u32).to_be_bytes());
        b.extend(crc32fast::hash(&b).to_be_bytes());
        b.extend(headers);
        b.extend(payload);
        b.extend(crc32fast::hash(&b).to_be_bytes());
        b
    }

    #[test]
    fn aws_test_vector_decodes() {
        let msgs = decode_all(&hex(AWS_VECTOR)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].header_str("content-type"), Some("application/json"));
        assert_eq!(msgs[0].payload, b"{'foo':'bar'}");
        assert!(starts_with_prelude(&hex(AWS_VECTOR)));
        assert!(!starts_with_prelude(b"{\"output\": {\"message\": {}}}"));
    }

    #[test]
    fn every_header_type_and_byte_by_byte_feeding() {
        let mut h = Vec::new();
        let mut add = |name: &str, kind: u8, value: &[u8]| {
            h.push(name.len() as u8);
            h.extend(name.as_bytes());
            h.push(kind);
            h.extend(value);
        };
        add("t", 0, &[]);
        add("f", 1, &[]);
        add("b", 2, &[0xFF]);
        add("s", 3, &(-2i16).to_be_bytes());
        add("i", 4, &7i32.to_be_bytes());
        add("l", 5, &(-9i64).to_be_bytes());
        add("y", 6, &[0, 2, 0xDE, 0xAD]);
        add("str", 7, &[0, 2, b'h', b'i']);
        add("ts", 8, &1_700_000_000_000i64.to_be_bytes());
        add("u", 9, &[7; 16]);
        let bytes = [frame(&h, b"one"), frame(&[], b"")].concat();
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for b in &bytes {
            got.extend(d.push(std::slice::from_ref(b)));
        }
        d.finish().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 2);
        let values: Vec<&HeaderValue> = got[0].headers.iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            [
                &HeaderValue::Bool(true),
                &HeaderValue::Bool(false),
                &HeaderValue::Byte(-1),
                &HeaderValue::Short(-2),
                &HeaderValue::Int(7),
                &HeaderValue::Long(-9),
                &HeaderValue::Bytes(vec![0xDE, 0xAD]),
                &HeaderValue::String("hi".into()),
                &HeaderValue::Timestamp(1_700_000_000_000),
                &HeaderValue::Uuid([7; 16]),
            ]
        );
        assert_eq!(got[0].header_str("str"), Some("hi"));
        assert_eq!(got[0].header_str("i"), None, "not a string header");
        assert_eq!(got[0].payload, b"one");
        assert!(got[1].headers.is_empty() && got[1].payload.is_empty());
    }

    #[test]
    fn bad_streams_are_errors_not_panics() {
        let good = frame(&[1, b'a', 7, 0, 1, b'x'], b"{}");
        // Truncated anywhere: a clear error at the end, never a panic.
        for cut in 1..good.len() {
            match decode_all(&good[..cut]) {
                Err(EventStreamError::Truncated { index: 0, have, .. }) => assert_eq!(have, cut),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        // A flipped bit anywhere is caught by one of the two checksums.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(decode_all(&bad).is_err(), "flip at {i} passed");
        }
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(matches!(
            decode_all(&bad),
            Err(EventStreamError::MessageCrc { index: 0, .. })
        ));
        // Over the size limit: refused from the prelude alone, before the bytes arrive.
        let mut big = ((MAX_MESSAGE_BYTES + 1) as u32).to_be_bytes().to_vec();
        big.extend(0u32.to_be_bytes());
        big.extend(crc32fast::hash(&big).to_be_bytes());
        let mut d = Decoder::default();
        assert!(d.push(&big).is_empty());
        assert!(matches!(d.error(), Some(EventStreamError::TooLarge { .. })));
        // Headers longer than the message, an unknown type, a header running past its block.
        let mut long = 20u32.to_be_bytes().to_vec();
        long.extend(10u32.to_be_bytes());
        long.extend(crc32fast::hash(&long).to_be_bytes());
        long.extend([0; 8]);
        assert!(matches!(
            decode_all(&long),
            Err(EventStreamError::HeadersLength { .. })
        ));
        for headers in [
            vec![1, b'a', 42],
            vec![1, b'a', 7, 0, 9, b'x'],
            vec![0, 7],
            vec![5, b'a'],
        ] {
            let e = decode_all(&frame(&headers, b""));
            assert!(
                matches!(e, Err(EventStreamError::BadHeader { .. })),
                "{headers:?}: {e:?}"
            );
        }
        // Intact messages before a damaged one in the same read are returned; the error
        // sticks, so later bytes cannot resynchronise a broken stream.
        let mut d = Decoder::default();
        assert_eq!(d.push(&[good.clone(), bad.clone()].concat()).len(), 1);
        assert!(d.error().is_some());
        assert!(d.push(&good).is_empty());
        assert!(matches!(
            d.finish(),
            Err(EventStreamError::MessageCrc { index: 1, .. })
        ));
        // Pseudo-random garbage never panics.
        let mut x = 0x2545_F491_u32;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = decode_all(&junk);
        }
    }

    fn event(kind: &str, payload: &str) -> Vec<u8> {
        let mut h = Vec::new();
        for (k, v) in [(":message-type", "event"), (":event-type", kind)] {
            h.push(k.len() as u8);
            h.extend(k.as_bytes());
            h.push(7);
            h.extend((v.len() as u16).to_be_bytes());
            h.extend(v.as_bytes());
        }
        frame(&h, payload.as_bytes())
    }

    #[test]
    fn converse_stream_assembles_and_requires_message_stop() {
        let body = [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"he"}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"llo"}}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            event("messageStop", r#"{"stopReason":"max_tokens"}"#),
            event(
                "metadata",
                r#"{"usage":{"inputTokens":12,"outputTokens":3,"totalTokens":15}}"#,
            ),
        ]
        .concat();
        let r = parse_converse_stream(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.text, "hello");
        assert_eq!(r.stop_reason.as_deref(), Some("max_tokens"));
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (12, 3));
        let msgs = decode_all(&body).unwrap_or_else(|e| panic!("{e}"));
        let deltas: Vec<String> = msgs.iter().filter_map(delta_text).collect();
        assert_eq!(deltas, ["he", "llo"]);
        let cut = [
            event("messageStart", "{}"),
            event("contentBlockDelta", r#"{"delta":{"text":"he"}}"#),
        ]
        .concat();
        let e = parse_converse_stream(&cut).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("without messageStop")),
            "{e:?}"
        );
        let junk = event("contentBlockDelta", "not json");
        assert!(matches!(
            parse_converse_stream(&junk),
            Err(LlmError::Protocol { .. })
        ));
    }
}
